//! Queue and condition-variable fast paths (see [`super`]).
