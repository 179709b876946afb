import { runPost } from './post-impl.js';

/* istanbul ignore next */
runPost();
