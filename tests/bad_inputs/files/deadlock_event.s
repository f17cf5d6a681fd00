	.globl _start
_start:
	wait_event
