	.include "inc"
