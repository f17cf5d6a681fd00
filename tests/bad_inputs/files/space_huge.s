	.globl _start
_start:
	ecall
	.data
	.space 0x7fffffff
