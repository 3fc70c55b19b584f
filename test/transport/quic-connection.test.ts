import { defineConnectionSuite } from './connection-suite.js';
import { quicFactory } from './quic-harness.js';

defineConnectionSuite('quic', quicFactory);
