"""Hardware task switches (SDM Vol. 3A §7.3, Table 7-1): the `task` family. The first task runs on
the standard TSS (selector 0x48); the new task's TSS is TSS B at 0x17000 (selector 0x80), reached
directly, through task gates in the GDT (0x90), the LDT (0x14) and the IDT, or by IRET with NT.
"""
import struct

from machine import Scenario, desc, gate, code_sel, data_sel, DATA0, DATA1, TSS, PD, PT0, STACK_TOP, SEL_TSS, IOMAP
from delivery import idt_task_gate, v86_delivery, SEL_STUB, IF, NT, VM, AC, ARITH
from v86 import (v86_body, v86_idt, V86_TAIL, V86_TERMS, V86_BASE, V86_CS, V86_SS, V86_SP, V86_DS, V86_ES,
                 KD_V86_IOBITMAP, KD_PUSHFD_VM)

# Free below the page directory at 0x20000.
TSS_B, TSS_C, LDT2, PD2 = 0x17000, 0x1A000, 0x1B000, 0x1C000
SEL_B, SEL_C, SEL_TGATE, SEL_LDT2, SEL_BAD = 0x80, 0x88, 0x90, 0x98, 0xA8
LDT_TGATE = 0x14          # LDT index 2: a task gate to TSS B
STACK_B = {0: 0xCFF0, 3: 0xDFF0}
ESP0_B = 0xEFF0

KD_TSS_FORMAT = ("SDM Vol. 3A §7.3 (the processor saves the current task's state in the current TSS) and "
                 "§7.6 (16-bit TSS): the old state goes into the old TSS in that TSS's format; QEMU 5 "
                 "writes it in the format of the new TSS")
KD_TSS16_SEGS = ("SDM Vol. 3A §7.6, Figure 7-11: a 16-bit TSS holds ES, CS, SS, DS at 22H, 24H, 26H, 28H; "
                 "QEMU 5 reads and writes them with a 4-byte stride (22H, 26H, 2AH, 2EH), so the new task's "
                 "segment registers come from the wrong words and the old task's are saved over others")
KD_TBIT = ("SDM Vol. 3A §7.2.1 (T flag) and §17.3.1.5 (task-switch exception condition): with T = 1 in the "
           "new TSS a #DB (DR6.BT = 1) is raised after the switch, before the new task's first "
           "instruction; QEMU 5 ignores the T flag")
KD_GATE_LDT_TSS = ("SDM Vol. 2A JMP/CALL (task gate): a TSS selector with TI = 1 in the gate is "
                   "#GP(TSS selector); QEMU 5 raises #TS(TSS selector)")
KD_LDTR_TI = ("SDM Vol. 3A §6.15 (interrupt 10, #TS after the commit point) and §7.3: the new task's LDT "
              "selector is loaded as the TSS holds it; QEMU 5 clears its TI bit in LDTR")

# ---------------------------------------------------------------------------------------------
# Task switches

def tss32(eip, eflags, regs, segs, ldt=0, link=0, cr3=PD, esp0=ESP0_B, trap=0, iomap=0x68):
    """A 32-bit TSS image (SDM Vol. 3A Figure 7-2); segs = ES CS SS DS FS GS."""
    b = bytearray(0x68)
    struct.pack_into('<IIIIIII', b, 0, link, esp0, data_sel(0), STACK_TOP[1], data_sel(1), STACK_TOP[2], data_sel(2))
    struct.pack_into('<III', b, 0x1C, cr3, eip, eflags)
    struct.pack_into('<8I', b, 0x28, *regs)
    for i, s in enumerate(segs):
        struct.pack_into('<I', b, 0x48 + 4 * i, s)
    struct.pack_into('<IHH', b, 0x60, ldt, trap, iomap)
    return b


def tss16(ip, flags, regs, segs, ldt=0, link=0, sp0=ESP0_B):
    """A 16-bit TSS image (SDM Vol. 3A Figure 7-11); segs = ES CS SS DS."""
    b = bytearray(0x2C)
    struct.pack_into('<HHH', b, 0, link, sp0, data_sel(0))
    struct.pack_into('<HH', b, 0x0E, ip, flags)
    struct.pack_into('<8H', b, 0x12, *[r & 0xFFFF for r in regs])
    struct.pack_into('<4H', b, 0x22, *segs[:4])
    struct.pack_into('<H', b, 0x2A, ldt)
    return b


def task_b_code(big, end, ldt_ds):
    """The new task: stores what it was given (registers, EFLAGS, TR, LDTR, DS), then IRET back
    (nested), a JMP back to the first task, or UD2. A 286 task's ESP has all-ones upper bits, so
    it touches no stack."""
    out = ["task_b:", f"mov [{DATA0 + 0x100:#x}], eax", f"mov [{DATA0 + 0x104:#x}], esp",
           f"mov [{DATA0 + 0x108:#x}], ebp", f"str [{DATA0 + 0x10C:#x}]", f"sldt [{DATA0 + 0x10E:#x}]",
           f"mov [{DATA0 + 0x110:#x}], ds"]
    if big:
        out += ["pushfd", f"pop dword [{DATA0 + 0x114:#x}]", "push dword 0x5a5a", "pop esi"]
    if ldt_ds:
        out.append("mov edx, [8]")
    out += ["add ebx, ecx", f"mov [{DATA0 + 0x118:#x}], ebx"]
    out.append({"iret": "iretd\nud2", "ud2": "ud2", "jmp_back": f"jmp {SEL_TSS:#x}:0\nud2"}[end])
    return "\n".join(out)


# The kind of each scenario, cycled; `via` is where the switch comes from.
TASK_KINDS = ["jmp_tss", "call_tss", "jmp_gate", "call_gate", "jmp_ldtgate", "call_ldtgate", "jmp_back",
              "int_gate", "exc_gate", "iret_link", "tss16", "ldt", "cr3", "v86task", "v86task",
              "busy", "short", "notpresent", "gate_target", "badseg", "badseg", "badseg", "iret_badlink"]


def fam_task(rng):
    """Task switches: JMP/CALL to a TSS, through task gates in the GDT and LDT and in the IDT (INT n,
    exceptions with error code), IRET with NT, 16-bit TSSs, LDT and CR3 loads, V86 tasks, and the
    #GP/#TS/#NP/#SS checks before and after the commit point (SDM Vol. 3A §7.3, Table 7-1)."""
    for i in range(184):
        yield task_scenario(rng, TASK_KINDS[i % len(TASK_KINDS)], i)
    # Known differences: the T flag, and switches between a 32-bit and a 16-bit TSS.
    for i in range(2):
        yield task_scenario(rng, "tbit", 200 + i)
        yield task_scenario(rng, "mixed", 210 + i)


def bad_selector(rng, what, c):
    """One selector that fails the new task's checks after the commit point, with the descriptor
    it names at SEL_BAD (or None): (selector, name, descriptor)."""
    if what == "cs":
        return rng.choice([(0, "null", None), (SEL_BAD | c, "data", desc(0, 0xFFFFF, 3, dpl=c, g=1)),
                           (SEL_BAD | c, "dpl", desc(0, 0xFFFFF, 0xB, dpl=(c + 1) % 4, g=1)),
                           (SEL_BAD | c, "np", desc(0, 0xFFFFF, 0xB, dpl=c, g=1, p=0)),
                           (0x3FF8 | c, "beyond", None), (SEL_BAD | c, "sys", desc(TSS_C, 0x67, 0x9, s=0))])
    if what == "ss":
        return rng.choice([(0, "null", None), (SEL_BAD | c, "ro", desc(0, 0xFFFFF, 1, dpl=c, g=1)),
                           (SEL_BAD | c, "code", desc(0, 0xFFFFF, 0xB, dpl=c, g=1)),
                           (SEL_BAD | c, "dpl", desc(0, 0xFFFFF, 3, dpl=3 - c, g=1)),
                           (SEL_BAD | (3 - c), "rpl", desc(0, 0xFFFFF, 3, dpl=c, g=1)),
                           (SEL_BAD | c, "np", desc(0, 0xFFFFF, 3, dpl=c, g=1, p=0)),
                           (0x3FF8 | c, "beyond", None)])
    if what == "ldt":
        return rng.choice([(SEL_BAD, "data", desc(LDT2, 0x7F, 3, dpl=0)),
                           (SEL_BAD, "np", desc(LDT2, 0x7F, 2, s=0, p=0, db=0)),
                           (SEL_LDT2 | 4, "ti", None), (0x3FF8, "beyond", None),
                           (SEL_BAD, "tss", desc(TSS_C, 0x67, 0x9, s=0))])
    if what == "eip":
        # CS limit 0xFFF: the task's EIP (0x1xxx) lies beyond it, #GP(0).
        return (SEL_BAD | c, "limit", desc(0, 0xFFF, 0xB, dpl=c))
    priv = (SEL_BAD | 3, "dpl", desc(0, 0xFFFFF, 3, dpl=c - 1, g=1)) if c else \
        (SEL_BAD | 3, "rpl", desc(0, 0xFFFFF, 3, dpl=0, g=1))
    return rng.choice([(SEL_BAD | c, "sys", desc(TSS_C, 0x67, 0x9, s=0)),
                       (SEL_BAD | c, "xonly", desc(0, 0xFFFFF, 0x9, dpl=3, g=1)), priv,
                       (SEL_BAD | c, "np", desc(0, 0xFFFFF, 3, dpl=3, g=1, p=0)), (0x3FF8 | c, "beyond", None)])


def task_scenario(rng, kind, i):
    # Exceptions through an IDT task gate take turns: #GP(selector), #GP(0) from HLT at CPL 3, #DE.
    exc = ["gp_sel", "gp_hlt", "de"][i // len(TASK_KINDS) % 3]
    cpl = 0 if kind in ("tss16", "mixed", "cr3") else 3 if kind == "exc_gate" and exc == "gp_hlt" \
        else rng.choice([0, 0, 3])
    paging = kind == "cr3" or rng.random() < 0.1
    sc = Scenario("", "task", cpl=cpl, paging=paging, regs=[rng.getrandbits(32) for _ in range(8)])
    struct.pack_into('<I', sc.tss, 0x1C, PD)      # CR3 for a switch back to the first task
    label = kind
    # The new task (TSS B at 0x17000, selector 0x80): its privilege, format and descriptor.
    cpl_b = rng.choice([0, 3])
    big = kind not in ("tss16", "mixed")
    if kind == "mixed":
        big = i % 2 == 0                     # the other side is 16-bit
        label = "mixed_old16" if big else "mixed_new16"
    old16 = kind == "tss16" or (kind == "mixed" and big)
    if old16:
        sc.gdt[9] = desc(TSS, 0x2B, 0x1, s=0, db=0)
        sc.tss = tss16(0, 0, [0] * 8, [0] * 4, sp0=STACK_TOP[0])
    rpl = rng.choice([0, cpl, 3])
    # Mostly usable from CPL and RPL; sometimes not (#GP(selector)).
    need = max(cpl, rpl)
    tss_dpl = rng.choice([3, 3, need]) if rng.random() < 0.9 else rng.randrange(4)
    gate_dpl = rng.choice([3, 3, need]) if rng.random() < 0.9 else rng.randrange(4)
    tss_p, tss_type, gate_p, gate_sel = 1, 0x9 if big else 0x1, 1, SEL_B
    tss_limit = (0x67 if big else 0x2B) + rng.choice([0, 0, 0x10])
    ldt_b = rng.choice([SEL_LDT2, 0x50]) if kind == "ldt" or rng.random() < 0.1 else 0
    flags_b = 2 | (rng.getrandbits(12) & (ARITH | IF)) | (rng.randrange(4) << 12 if rng.random() < 0.5 else 0) \
        | (AC if big and rng.random() < 0.1 else 0)
    regs_b = [rng.getrandbits(32) for _ in range(8)]
    regs_b[4] = STACK_B[cpl_b]
    ds_b = (0x0C | cpl_b) if ldt_b else rng.choice([data_sel(cpl_b), data_sel(3)])
    segs_b = [rng.choice([data_sel(cpl_b), data_sel(3), 0]), code_sel(cpl_b), data_sel(cpl_b), ds_b,
              rng.choice([data_sel(cpl_b), 0]), rng.choice([data_sel(3), 0])]
    if not big:
        segs_b[4] = segs_b[5] = 0            # a 286 TSS has no FS/GS: they are loaded null
    bad = None

    # Where the switch comes from: via (tss/gate/ldtgate/int/exc/iret) and the instruction.
    via = {"jmp_gate": "gate", "call_gate": "gate", "jmp_ldtgate": "ldtgate", "call_ldtgate": "ldtgate",
           "int_gate": "int", "exc_gate": "exc", "iret_link": "iret", "iret_badlink": "iret"}.get(kind, "tss")
    if kind in ("ldt", "tss16", "v86task", "short", "badseg") and rng.random() < 0.4:
        via = "gate"
    insn = "jmp" if kind.startswith("jmp") or kind == "tbit" else "call" if kind.startswith("call") \
        else rng.choice(["jmp", "call"])
    target = {"tss": SEL_B | rpl, "gate": SEL_TGATE | rpl, "ldtgate": LDT_TGATE | rpl}.get(via)
    if kind == "busy":
        what = rng.choice(["tss", "self", "gate"])
        tss_type |= 2
        target = {"tss": SEL_B | rpl, "self": SEL_TSS, "gate": SEL_TGATE | rpl}[what]
        label = f"busy_{what}"
    elif kind == "short":
        tss_limit = (0x66 if big else 0x2A) - rng.choice([0, 0, 0x20])
    elif kind == "notpresent":
        what = rng.choice(["tss", "gate", "gate_tss"])
        tss_p, gate_p = (0, 1) if what != "gate" else (1, 0)
        target = SEL_B | rpl if what == "tss" else SEL_TGATE | rpl
        label = f"np_{what}"
    elif kind == "gate_target":
        what = rng.choice(["data", "ldt_ti", "null", "ldtdesc", "beyond"])
        gate_sel = {"data": data_sel(0), "ldt_ti": 0x0C, "null": 0, "ldtdesc": 0x50, "beyond": 0x3FF8}[what]
        target = rng.choice([SEL_TGATE, LDT_TGATE]) | rpl
        label = f"gate_target_{what}"
        if gate_sel & 4:
            sc.known = KD_GATE_LDT_TSS
    elif kind == "badseg":
        what = rng.choice(["cs", "cs", "ss", "ss", "ds", "es", "fs", "gs", "ldt", "eip"])
        if what == "cs":
            cpl_b = 0 if rng.random() < 0.5 else cpl_b
            segs_b[1:4] = [code_sel(cpl_b), data_sel(cpl_b), data_sel(3)]
        bad, sub, bad_desc = bad_selector(rng, what, cpl_b)
        if what == "cs" and bad == 0:
            # CS null: CS.RPL 0 for SS and DS to be checked against (one failing check only).
            cpl_b = 0
            segs_b[2:4] = [data_sel(0), data_sel(3)]
        if what == "ldt":
            ldt_b = bad
        else:
            segs_b[{"es": 0, "cs": 1, "eip": 1, "ss": 2, "ds": 3, "fs": 4, "gs": 5}[what]] = bad
        if bad_desc is not None:
            sc.gdt[SEL_BAD // 8] = bad_desc
        regs_b[4] = STACK_B[cpl_b]
        sc.selectors_only = True
        label = f"badseg_{what}_{sub}"
        if sub == "ti":
            sc.known = KD_LDTR_TI

    # Does the new task return by IRET (CALL, INT n), by JMP to the first task, or stop there?
    ok = kind not in ("busy", "short", "notpresent", "gate_target", "badseg", "iret_badlink")
    end = "ud2"
    if kind == "jmp_back":
        insn, end = "jmp", "jmp_back"
        if rng.random() < 0.7:
            sc.gdt[9] = desc(TSS, IOMAP + 0x2000, 0x9, s=0, db=0, dpl=3)
    elif ok and kind != "v86task" and (insn == "call" and via in ("tss", "gate", "ldtgate") or via == "int"):
        end = "iret" if rng.random() < 0.9 else "ud2"

    after = f"mov ebx, 2\npushfd\npop ecx\nstr dx\nsldt si\nmov [{DATA0 + 0x180:#x}], ecx"
    if old16:
        # Back from a 286 TSS ESP has all-ones upper bits: keep it, then use the ring-0 stack.
        after = f"mov [{DATA0 + 0x184:#x}], esp\nmov esp, {STACK_TOP[0]:#x}\n" + after
    if via in ("tss", "gate", "ldtgate"):
        sc.body = f"mov ebx, 1\n{insn} {target:#x}:0\n{after}"
    elif via == "int":
        n = rng.choice([0x40, 0x81, 0xF0])
        sc.idt[n] = gate(SEL_B, 0, 0x5, dpl=3 if cpl == 3 else rng.choice([0, 3]))
        sc.body = f"mov ebx, 1\nint {n:#x}\n{after}"
        idt_task_gate(sc, {n})
        insn, label = "int", f"int{n:x}_gate"
    elif via == "exc":
        ex = exc
        v = 0 if ex == "de" else 13
        sc.idt[v] = gate(SEL_B, 0, 0x5, dpl=rng.choice([0, 3]))
        fault = {"gp_sel": "mov ax, 0x3ff8\nmov ds, ax", "gp_hlt": "hlt", "de": "xor ecx, ecx\ndiv ecx"}[ex]
        sc.body = f"mov ebx, 1\n{fault}\n{after}"
        idt_task_gate(sc, {v})
        insn, label = "exc", f"exc_{ex}"
    else:
        # IRET with NT = 1 from the first task: to the task in its back link, which must be busy.
        link = SEL_B
        tss_type |= 2
        if kind == "iret_badlink":
            what = rng.choice(["null", "ti", "avail", "np", "data", "beyond"])
            link = {"null": 0, "ti": SEL_B | 4, "data": data_sel(0), "beyond": 0x3FF8}.get(what, SEL_B)
            if what == "avail":
                tss_type &= ~2
            if what == "np":
                tss_p = 0
            label = f"iret_badlink_{what}"
        struct.pack_into('<H', sc.tss, 0, link)
        sc.body = f"mov ebx, 1\npushfd\nor dword [esp], {NT:#x}\npopfd\niretd\n{after}"
        insn = "iret"

    # The new task's code (and V86 code for a V86 task), then its TSS.
    v86 = kind == "v86task"
    tss_b = bytearray(0x2069 if v86 else (0x68 if big else 0x2C))
    sc.tail = task_b_code(big, end, bool(ldt_b))
    if v86:
        code, ops, tname, denied, pushfd = v86_body(rng, tss_b, 0x68, rng.choice(V86_TERMS))
        iopl_b = rng.choice([0, 3, 3])
        tss_b[0x2068] = 0xFF
        tss_limit = 0x2068
        sc.tail += "\n" + V86_TAIL.format(body=code)
        sc.ioi_base = V86_BASE
        label = f"v86task_{ops}_{tname}"
        if denied:
            sc.known = KD_V86_IOBITMAP
        elif pushfd and iopl_b == 3:
            sc.known = KD_PUSHFD_VM
        _, v86_ip, h_ud, h_bp = sc.labels("task_b", "v86", "h_ud", "h_bp")
        eip_b = v86_ip - V86_BASE
        flags_b = VM | iopl_b << 12 | 2 | (rng.getrandbits(12) & (ARITH | IF))
        regs_b[4] = V86_SP
        segs_b = [V86_ES, V86_CS, V86_SS, V86_DS, rng.choice([0, 0x350]), rng.choice([0, 0x3F0])]
        v86_idt(sc, rng, h_ud, h_bp)
        v86_delivery(sc)
    else:
        eip_b = sc.label("task_b")
    if big:
        tss_b[0:0x68] = tss32(eip_b, flags_b, regs_b, segs_b, ldt=ldt_b, trap=1 if kind == "tbit" else 0,
                              cr3=PD2 if kind == "cr3" else PD)
    else:
        tss_b[0:0x2C] = tss16(eip_b, flags_b, regs_b, segs_b, ldt=ldt_b)
    sc.mem[TSS_B:TSS_B + len(tss_b)] = tss_b
    sc.gdt[SEL_B // 8] = desc(TSS_B, tss_limit, tss_type, s=0, dpl=tss_dpl, p=tss_p, db=0)
    sc.gdt[SEL_C // 8] = desc(TSS_C, 0x67, 0x9, s=0, dpl=3)
    sc.gdt[SEL_TGATE // 8] = gate(gate_sel, 0, 0x5, dpl=gate_dpl, p=gate_p)
    sc.gdt[SEL_STUB // 8] = gate(SEL_B, 0, 0x5, dpl=3)
    sc.gdt[SEL_LDT2 // 8] = desc(LDT2, 0x7F, 0x2, s=0, db=0)
    sc.ldt[LDT_TGATE // 8] = gate(gate_sel, 0, 0x5, dpl=gate_dpl, p=gate_p)
    # A data segment at LDT index 1 (selector 0x0C) in both LDTs, with different bases.
    sc.ldt[1] = desc(DATA0, 0xFFFF, 3, dpl=3)
    sc.mem[LDT2 + 8:LDT2 + 16] = desc(DATA1, 0xFFFF, 3, dpl=3)
    if kind == "cr3":
        for k, e in enumerate(sc.pd):
            # PDE 0 with A = 0: the walks through the new directory set it.
            struct.pack_into('<I', sc.mem, PD2 + 4 * k, (PT0 | 0x07) if k == 0 else e)
    if sc.selectors_only:
        def post(rec, eip_b=eip_b):
            # QEMU raises a fault after the commit point with the switching instruction's return
            # address, so EIP reads back as the JMP/CALL; the fault belongs to the new task
            # (SDM Vol. 3A §7.3), whose EIP the switch loaded: recorded as such (README.md).
            if rec['expect']['tr'][0] & ~3 == SEL_B and rec['expect']['exception']:
                rec['expect']['eip'] = eip_b
            else:
                del rec['selectorsOnly']     # refused before the commit point: all compared
        sc.post = post
    if kind == "tbit":
        sc.known = KD_TBIT
    if kind == "mixed":
        sc.known = KD_TSS_FORMAT + "; and " + KD_TSS16_SEGS
    if kind == "tss16":
        sc.known = KD_TSS16_SEGS
    sc.name = f"task_{label}_{insn}_cpl{cpl}_b{cpl_b}{'' if big else '_16'}{'_pg' if paging else ''}_{i}"
    return sc
