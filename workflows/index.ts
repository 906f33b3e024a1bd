// The workflow bundle's entry point: only deterministic workflow code is reachable from here.
export { experiment } from './experiment';
export { fanOut } from './fan-out';
export { sweep } from './sweep';
