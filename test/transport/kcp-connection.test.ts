import { defineConnectionSuite } from './connection-suite.js';
import { kcpFactory } from './harness.js';

defineConnectionSuite('kcp', kcpFactory);
