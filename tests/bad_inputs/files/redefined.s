	.globl _start
_start:
_start:
	ecall
