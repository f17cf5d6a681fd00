# controller mode: dispatch to worker 0, then exit without join
	.globl _start
_start:
	li t0, 1
	la t1, work
	li t2, 0
	fork t0, t1, t2
	li a0, 0
	li a7, 93
	ecall
work:
	li t3, 1000
1:	addi t3, t3, -1
	bnez t3, 1b
	ret
