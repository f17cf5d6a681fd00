	.globl _start
_start:
	li a0, 0
	li a7, 93
	ecall
	.section .tcdm
big:	.space 100 * 1024
