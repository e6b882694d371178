#!/usr/bin/env python3
"""Real-mode cases from Unicorn (QEMU TCG in 16-bit mode), written in the 80386 suite's
JSON-lines format so that `x86v conformance FILE` runs them (docs/formats.md).

    /usr/bin/python3 Tools/unicorn-cases/real_mode.py SEED COUNT > /tmp/rm.jsonl
    .build/release/x86v conformance /tmp/rm.jsonl

What it covers: the 16-bit stack (SS.B = 0: PUSH/POP/PUSHA/POPA/ENTER/LEAVE, 66-prefixed
forms), 16-bit addressing and its 64 KiB wrap, string instructions, XLAT, LDS/LES, BCD, MUL/DIV,
shifts, BT, BOUND. Each case is one instruction and a HLT at a random CS:IP with random
registers, flags and memory; the expected state is Unicorn's. Flags the SDM leaves undefined for
an instruction are masked. Control transfers are left out (Unicorn's EIP after a one-instruction
run of a transfer is not reliable).

Where QEMU departs from the SDM (no real-mode limit checks: a word or doubleword access at
offset 0xFFFF, or a PUSHAD wrapping SP through 0, completes on QEMU and raises #GP/#SS on x86v,
Bochs and hardware), cases fail with "did not finish": read each failure, nothing here is a
committed expectation. Measured on 2026-12-06 with seed 3, 2,000 drawn (1,882 kept): 1,875
equal, 7 such limit cases (PUSHAD at SP 6, a word at offset 0xFFFF), no other difference.
"""
import json
import random
import sys

from unicorn import Uc, UcError, UC_ARCH_X86, UC_MODE_16
from unicorn.x86_const import (UC_X86_REG_EAX, UC_X86_REG_EBX, UC_X86_REG_ECX, UC_X86_REG_EDX,
                               UC_X86_REG_ESI, UC_X86_REG_EDI, UC_X86_REG_EBP, UC_X86_REG_ESP,
                               UC_X86_REG_CS, UC_X86_REG_DS, UC_X86_REG_ES, UC_X86_REG_SS,
                               UC_X86_REG_FS, UC_X86_REG_GS, UC_X86_REG_EIP, UC_X86_REG_EFLAGS)

REGS = [("eax", UC_X86_REG_EAX), ("ebx", UC_X86_REG_EBX), ("ecx", UC_X86_REG_ECX), ("edx", UC_X86_REG_EDX),
        ("esi", UC_X86_REG_ESI), ("edi", UC_X86_REG_EDI), ("ebp", UC_X86_REG_EBP), ("esp", UC_X86_REG_ESP)]
SEGS = [("cs", UC_X86_REG_CS), ("ds", UC_X86_REG_DS), ("es", UC_X86_REG_ES), ("ss", UC_X86_REG_SS),
        ("fs", UC_X86_REG_FS), ("gs", UC_X86_REG_GS)]
INSNS = [
    ("push ax", [0x50]), ("push eax", [0x66, 0x50]), ("pop bx", [0x5B]), ("pop ebx", [0x66, 0x5B]),
    ("pushf", [0x9C]), ("pushfd", [0x66, 0x9C]), ("pusha", [0x60]), ("pushad", [0x66, 0x60]),
    ("popa", [0x61]), ("popad", [0x66, 0x61]), ("enter 8,0", [0xC8, 8, 0, 0]), ("enter 4,2", [0xC8, 4, 0, 2]),
    ("leave", [0xC9]), ("push 0x1234", [0x68, 0x34, 0x12]), ("push dword 0x12345678", [0x66, 0x68, 0x78, 0x56, 0x34, 0x12]),
    ("push word [bx+si]", [0xFF, 0x30]), ("pop word [bx+di+4]", [0x8F, 0x41, 4]),
    ("push ds", [0x1E]), ("pop es", [0x07]), ("push fs (66)", [0x66, 0x0F, 0xA0]),
    ("lodsw", [0xAD]), ("stosb", [0xAA]), ("movsw", [0xA5]), ("rep stosb", [0xF3, 0xAA]), ("xlat", [0xD7]),
    ("lea ax,[bx+si+0x8000]", [0x8D, 0x80, 0x00, 0x80]), ("mov ax,[bp+di-2]", [0x8B, 0x43, 0xFE]),
    ("add [bx+si+0x7fff],ax", [0x01, 0x80, 0xFF, 0x7F]), ("cwd", [0x99]), ("cdq (66)", [0x66, 0x99]),
    ("aam", [0xD4, 0x0A]), ("aad", [0xD5, 0x0A]), ("mul bx", [0xF7, 0xE3]), ("div bl", [0xF6, 0xF3]),
    ("shl ax,cl", [0xD3, 0xE0]), ("rcr bx,1", [0xD1, 0xDB]), ("shld ax,bx,5", [0x0F, 0xA4, 0xD8, 5]),
    ("bt ax,bx", [0x0F, 0xA3, 0xD8]), ("xchg [bx],ax", [0x87, 0x07]), ("lds si,[bx]", [0xC5, 0x37]),
    ("les di,[bp]", [0xC4, 0x7E, 0]), ("movsx eax,byte [bx] (66)", [0x66, 0x0F, 0xBE, 0x07]), ("bound ax,[bx]", [0x62, 0x07]),
]
# OF SF ZF AF PF CF bits the SDM leaves undefined, by mnemonic (Vol. 2 "Flags Affected").
UNDEFINED = {"shl": 0x810, "rcr": 0x800, "shld": 0x810, "mul": 0xD4, "div": 0x8D5, "aam": 0x811, "aad": 0x811, "bt": 0x894}


def case(n):
    name, code = random.choice(INSNS)
    uc = Uc(UC_ARCH_X86, UC_MODE_16)
    uc.mem_map(0, 0x110000)
    regs = {r: random.getrandbits(32) for r, _ in REGS}
    sp = random.choice([0, 4, 6, 8, 0x8000, random.randrange(0x80, 0xFF00) & ~1])
    regs["esp"] = (regs["esp"] & 0xFFFF0000) | sp
    for r in ["ebx", "esi", "edi", "ebp"]:
        regs[r] = (regs[r] & 0xFFFF0000) | random.choice([0, 2, 0x7FFF, 0x8000, random.randrange(0, 0xFF00)])
    regs["ecx"] = (regs["ecx"] & 0xFFFF0000) | random.choice([0, 1, 3, 7])
    segs = {"cs": random.choice([0x1000, 0x2000]), "ds": random.randrange(0x3000, 0x9000),
            "es": random.randrange(0x3000, 0x9000), "ss": random.choice([0x0100, 0xA000, random.randrange(0x3000, 0x9000)]),
            "fs": 0, "gs": 0}
    ip = random.randrange(0x100, 0xF000)
    eflags = 0x2 | random.getrandbits(1) | random.getrandbits(1) << 6 | random.getrandbits(1) << 7 | random.getrandbits(1) << 11
    ram = {}
    program = code + [0xF4]
    for i, b in enumerate(program):
        ram[segs["cs"] * 16 + ip + i] = b
    # Random bytes around the stack and every data pointer.
    windows = [("ss", sp - 16), ("ss", sp), ("ds", regs["ebx"]), ("ds", regs["esi"]), ("es", regs["edi"]),
               ("ss", regs["ebp"]), ("ds", regs["ebx"] + regs["esi"])]
    for seg, off in windows:
        for k in range(20):
            ram.setdefault(segs[seg] * 16 + ((off + k) & 0xFFFF), random.getrandbits(8))
    for a, b in ram.items():
        uc.mem_write(a, bytes([b]))
    for r, u in REGS:
        uc.reg_write(u, regs[r])
    for s, u in SEGS:
        uc.reg_write(u, segs[s])
    uc.reg_write(UC_X86_REG_EFLAGS, eflags)
    start = segs["cs"] * 16 + ip
    try:
        uc.emu_start(start, start + len(code), count=1)
    except UcError:
        return None
    if uc.reg_read(UC_X86_REG_EIP) != ip + len(code):
        return None
    initial = dict(regs, **segs, eip=ip, eflags=eflags, cr0=0x7FFEFFF0, cr3=0, dr6=0xFFFF0FF0, dr7=0)
    final = {r: uc.reg_read(u) for r, u in REGS if uc.reg_read(u) != regs[r]}
    final.update({s: uc.reg_read(u) for s, u in SEGS if uc.reg_read(u) != segs[s]})
    final["eip"] = ip + len(program)
    flags = uc.reg_read(UC_X86_REG_EFLAGS) & 0xFFFF
    if flags != eflags:
        final["eflags"] = flags
    # Memory: every byte that changed within 64 bytes of each pointer (offsets wrap at 64 KiB).
    watched = set()
    for seg, off in [("ss", sp), ("ds", regs["ebx"]), ("es", regs["edi"]), ("ss", regs["ebp"]),
                     ("ds", regs["ebx"] + regs["esi"]), ("ds", regs["ebx"] + regs["esi"] + 0x7FFF),
                     ("ds", regs["ebx"] + regs["edi"] + 4), ("ds", regs["esi"])]:
        for k in range(-64, 64):
            watched.add(segs[seg] * 16 + ((off + k) & 0xFFFF))
    changed = [[a, uc.mem_read(a, 1)[0]] for a in sorted(watched) if uc.mem_read(a, 1)[0] != ram.get(a, 0)]
    return {"file": "unicorn-real", "idx": n, "hash": "%040x" % random.getrandbits(160), "name": name,
            "bytes": program, "mode": "real",
            "initial": {"regs": initial, "ram": [[a, b] for a, b in sorted(ram.items())]},
            "final": {"regs": final, "ram": changed},
            "flags_mask": 0x8D5 & ~UNDEFINED.get(name.split()[0], 0), "flags_mask_src": "test"}


def main():
    random.seed(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    kept = 0
    for n in range(count):
        t = case(n)
        if t is not None:
            print(json.dumps(t))
            kept += 1
    print(f"{kept} of {count} cases kept", file=sys.stderr)


if __name__ == "__main__":
    main()
