	.globl _start
_start:
	mutex_unlock
