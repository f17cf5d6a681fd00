"""The instruction set of the mcusim cluster cores, described once.

`isa.spec` defines what an instruction entry is; `isa.ext.*` hold the entries, one module per
extension; everything else (encoder, decoder, disassembler, interpreter, docs) derives from them.
"""
