import { run } from './server.js';

void run();
