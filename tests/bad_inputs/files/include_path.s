	.include "exit0.inc"
