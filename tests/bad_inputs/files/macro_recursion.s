	.macro again
	again
	.endm
	.globl _start
_start:
	again
