#!/usr/bin/env node
import { cli } from './cli-impl.js';

/* istanbul ignore next */
cli(process.argv.slice(2)).then((code) => process.exit(code));
