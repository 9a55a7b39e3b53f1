export declare const FLOOR_IN: "bench.floor.events";
export declare const FLOOR_EXECUTE: "bench.floor.execute";
export declare const FLOOR_OUT: "bench.floor.out";
export declare const FLOOR_SOURCE: "floor";
