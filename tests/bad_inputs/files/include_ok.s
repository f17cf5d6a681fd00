	.include "inc/exit0.inc"
