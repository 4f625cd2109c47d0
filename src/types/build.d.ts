/** A hash of the graph-building sources, set by the esbuild build (scripts/build.mjs). */
declare const __GRAPH_BUILDER_HASH__: string;
