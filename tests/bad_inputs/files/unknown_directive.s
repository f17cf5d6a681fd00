	.globl _start
_start:
	.frobnicate 3
	ecall
