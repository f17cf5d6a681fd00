	.globl _start
_start:
	ecall
	.data
	.fill 0x10000000, 8, 0
