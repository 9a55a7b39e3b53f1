// Subjects and source of the hop floor (see core.mjs); the bench's path and the floor's core share them.
export const FLOOR_IN = "bench.floor.events";
export const FLOOR_EXECUTE = "bench.floor.execute";
export const FLOOR_OUT = "bench.floor.out";
export const FLOOR_SOURCE = "floor";
