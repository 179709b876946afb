import { run } from './fork/main.js';

/* istanbul ignore next */
run();
