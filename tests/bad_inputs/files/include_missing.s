	.include "nope.inc"
