	.globl _start
_start:
	ecall
	.data
	.align 40
