"""Scenario families. Each is a generator over a seeded random.Random yielding Scenario objects;
names are `family_variant_index`. Behaviour where QEMU departs from the SDM is either not generated
or marked with `known` (see README.md and Tests/X86CoreTests/UnicornKnownDifferences.md)."""
from v86 import fam_v86
from tasks import fam_task
from machine import (Scenario, desc, gate, code_sel, data_sel, CODE, DATA0, DATA1, TSS, TSS2, LDT,
                     PD, PT1, TARGET_PHYS, PSE_PHYS, STACK_TOP, SEL_TSS, SEL_LDT, SEL_CONF0, IOMAP)

SLOT = 16                 # GDT slot of the scenario's test descriptor (selector 0x80)
SEL_TEST = SLOT * 8
SEL_TEST2 = (SLOT + 1) * 8
SEL_GATE = (SLOT + 2) * 8

KD_PDE_A = ("SDM Vol. 3A §4.8: whether a walk that ends in #PF sets the A flag of the PDE it used "
            "is model-specific; QEMU sets PDE.A before checking the PTE/permissions (Bochs does not)")
KD_FETCH_CR2 = ("SDM Vol. 3A §4.7 / §6.15 (interrupt 14): CR2 holds the faulting linear address; on an "
                "instruction-fetch #PF Unicorn 2.0.1 leaves CR2 = 0xFFFFFFFE")
KD_RMW_W = ("SDM Vol. 3A §4.7 (W/R flag) and §4.8 (A flag): a read-modify-write instruction's "
            "access is checked as a write on Intel processors (W/R = 1, no A update from a read that "
            "then faults); QEMU does the read first: W/R = 0 when the read faults, and A set by the "
            "read when the write then faults")
KD_CONF_GATE = ("SDM Vol. 3A §5.8.6 / Vol. 2A CALL: a call through a gate to a conforming code segment "
                "does not change CPL (no stack switch); QEMU moves to the segment's DPL with a stack switch")
KD_IOBITMAP = ("SDM Vol. 1 §19.5.2 / Vol. 3A §20 (I/O permission bit map): at CPL > IOPL an access whose "
               "bitmap bit is set, or outside the TSS limit, is #GP(0); Unicorn 2.0.1 does not check the "
               "bitmap and performs the access")
KD_INT_GATE = ("SDM Vol. 3A §6.12.1.1: INT n checks the gate (DPL >= CPL, present, type) before "
               "delivery; Unicorn never delivers through the IDT and reports vector n for any gate")

KD_IRET_VIF = ("SDM Vol. 2A IRET (protected-mode return): a 32-bit IRET at CPL 0 loads VIF and VIP from the "
               "popped EFLAGS; QEMU 5 leaves them unchanged (its IRET flag mask has no VIF/VIP)")


def rand_regs(rng):
    return [rng.getrandbits(32) for _ in range(8)]


def dpl_of(sel):
    return sel & 3


# Segment descriptor kinds: (short name, S, type)
SEG_KINDS = [
    ("dro", 1, 0x0), ("droa", 1, 0x1), ("drw", 1, 0x2), ("drwa", 1, 0x3),
    ("dro_ed", 1, 0x4), ("drw_ed", 1, 0x6), ("cx", 1, 0x8), ("cxa", 1, 0x9), ("cr", 1, 0xA),
    ("cra", 1, 0xB), ("ccx", 1, 0xC), ("ccr", 1, 0xE), ("ccra", 1, 0xF),
] + [(f"sys{t:x}", 0, t) for t in range(16)]


def rand_seg_desc(rng, kinds=SEG_KINDS):
    name, s, typ = rng.choice(kinds)
    dpl = rng.randrange(4)
    p = 0 if rng.random() < 0.15 else 1
    g = rng.randrange(2)
    limit = rng.choice([0xFFFFF, 0xFFFF, 0x1FFF, 0x0FFF]) if g == 0 else rng.choice([0xFFFFF, 0x3FF, 0x1F])
    base = rng.choice([0, DATA0, DATA1, TARGET_PHYS, 0x30000 + rng.randrange(16) * 0x1000])
    db = 1 if rng.random() < 0.8 else 0
    return name, desc(base, limit, typ, s=s, dpl=dpl, p=p, db=db, g=g), (s, typ, dpl, p, limit, g, base)


# ---------------------------------------------------------------------------------------------
def fam_segload(rng):
    """MOV/POP to DS, ES, FS, GS, SS: null, bad index, LDT, type, DPL/RPL/CPL, P."""
    for i in range(520):
        cpl = rng.choice([0, 0, 1, 2, 3, 3])
        sreg = rng.choice(["ds", "es", "fs", "gs", "ss", "ss"])
        form = rng.choice(["mov", "mov", "pop"])
        where = rng.choices(["gdt", "ldt", "null", "beyond", "ldtnull"], [70, 12, 8, 6, 4])[0]
        sc = Scenario("", "segload", cpl=cpl, regs=rand_regs(rng), ldt=(where != "ldtnull"))
        rpl = rng.randrange(4)
        # SS loads are rarely legal at random: bias toward the legal shape half the time.
        kinds = SEG_KINDS
        if sreg == "ss" and rng.random() < 0.5:
            kinds = [k for k in SEG_KINDS if k[0] in ("drw", "drwa", "drw_ed")]
        kname, d, (s, typ, dpl, p, limit, g, base) = rand_seg_desc(rng, kinds)
        if sreg == "ss" and rng.random() < 0.5:
            dpl, rpl = cpl, cpl
            d = desc(base, limit, typ, s=s, dpl=dpl, p=p, g=g)
        if where == "gdt":
            sc.gdt[SLOT] = d
            sel = SEL_TEST | rpl
        elif where in ("ldt", "ldtnull"):
            sc.ldt[3] = d
            sel = 0x18 | 4 | rpl
        elif where == "null":
            sel = rpl
        else:
            sel = (200 * 8) | rpl
        readable = s == 1 and ((typ & 8 == 0) or (typ & 2)) and not (typ & 8 == 0 and typ & 4)
        big = (limit << 12 | 0xFFF if g else limit) >= 0xFFF
        load = f"mov ax, {sel:#x}\nmov {sreg}, ax" if form == "mov" else f"push dword {sel:#x}\npop {sreg}"
        after = f"mov ecx, [{sreg}:8]" if readable and big and p and where != "null" else "nop"
        sc.body = f"{load}\n{after}"
        sc.name = f"segload_{sreg}_{form}_cpl{cpl}_{where}_{kname}_d{dpl}r{rpl}p{p}_{i}"
        yield sc
    # MOV to CS is #UD; MOV from Sreg stores the selector.
    for i, cpl in enumerate([0, 3]):
        sc = Scenario(f"segload_mov_cs_ud_cpl{cpl}", "segload", cpl=cpl)
        sc.body = f"mov ax, {code_sel(cpl):#x}\ndb 0x8e, 0xc8"   # mov cs, ax
        yield sc
        sc = Scenario(f"segload_store_sregs_cpl{cpl}", "segload", cpl=cpl)
        sc.body = f"mov eax, -1\nmov ebx, -1\nmov ax, ss\nmov ebx, cs\nmov [{DATA0 + 0x40:#x}], ds"
        yield sc


# ---------------------------------------------------------------------------------------------
def fam_ldt(rng):
    """LLDT with various descriptors, then loads through TI=1; SLDT."""
    for i in range(130):
        cpl = rng.choice([0, 0, 0, 0, 3])
        sc = Scenario("", "ldt", cpl=cpl, regs=rand_regs(rng), ldt=False)
        what = rng.choices(["ldt", "sys", "seg", "null", "ti1", "beyond"], [50, 15, 10, 10, 8, 7])[0]
        p = 0 if rng.random() < 0.15 else 1
        lim = rng.choice([0x17, 0x1F, 0x7F, 0xFFFF])
        base = rng.choice([LDT, LDT + 0x100])
        typ = 2 if what == "ldt" else rng.choice([1, 3, 5, 9, 0xB, 0xC, 0xE, 0xF]) if what == "sys" else 0x2
        s = 1 if what == "seg" else 0
        dpl = rng.randrange(4)
        sc.gdt[SLOT] = desc(base, lim, typ, s=s, dpl=dpl, p=p, db=0)
        rpl = rng.randrange(4)
        sel = {"ldt": SEL_TEST | rpl, "sys": SEL_TEST | rpl, "seg": SEL_TEST | rpl, "null": rpl,
               "ti1": SEL_TEST | 4 | rpl, "beyond": 250 * 8}[what]
        # LDT contents at both bases: a data segment at several indices.
        for j in range(1, 16):
            sc.ldt[j] = desc(DATA0 + (j & 1) * 0x1000, 0xFFFF, 2, dpl=3 if j % 3 else 0)
        sc.mem[LDT + 0x100 + 8:LDT + 0x100 + 16] = desc(DATA1, 0xFFFF, 0, dpl=3)
        idx = rng.choice([1, 2, 3, 4, 5])
        lsel = (idx * 8) | 4 | 3
        sc.body = (f"mov ax, {sel:#x}\nlldt ax\nsldt ebx\nmov ax, {lsel:#x}\nmov ds, ax\n"
                   f"mov ecx, [ds:0]\nlar edx, ax\nsetz dl")
        sc.reg_mask = [0xFFFFFFFF, 0xFFFFFFFF, 0xFFF0FFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF,
                       0xFFFFFFFF, 0xFFFFFFFF]
        sc.name = f"ldt_lldt_cpl{cpl}_{what}_t{typ:x}p{p}_lim{lim:x}_idx{idx}_{i}"
        yield sc


# ---------------------------------------------------------------------------------------------
def fam_ltr(rng):
    """LTR with TSS descriptors (available/busy, 16/32-bit), other types, null, TI=1; STR."""
    for i in range(70):
        cpl = rng.choice([0, 0, 0, 0, 2, 3])
        sc = Scenario("", "ltr", cpl=cpl, regs=rand_regs(rng))
        typ = rng.choice([9, 9, 9, 1, 0xB, 3, 2, 0xC, 0xE, 0])
        s = 0 if rng.random() < 0.9 else 1
        p = 0 if rng.random() < 0.15 else 1
        lim = rng.choice([0x67, 0x2B, 0x1000])
        sc.gdt[SLOT] = desc(TSS2, lim, typ, s=s, dpl=rng.randrange(4), p=p, db=0)
        kind = rng.choices(["gdt", "null", "ti1"], [85, 8, 7])[0]
        rpl = rng.randrange(4)
        sel = {"gdt": SEL_TEST | rpl, "null": rpl, "ti1": SEL_TEST | 4 | rpl}[kind]
        sc.body = f"mov ax, {sel:#x}\nltr ax\nstr ebx\nstr [{DATA0 + 0x20:#x}]"
        if kind == "null" and cpl == 0:
            sc.known = "SDM Vol. 2A LTR: a null selector is #GP(0); QEMU 5 loads a null TR"
        sc.name = f"ltr_cpl{cpl}_{kind}_s{s}t{typ:x}p{p}_{i}"
        yield sc


# ---------------------------------------------------------------------------------------------
def fam_larlsl(rng):
    """LAR, LSL, VERR, VERW on many descriptor types, DPL/RPL/CPL, P, G, LDT, null, bad index."""
    for i in range(560):
        cpl = rng.choice([0, 1, 2, 3, 3])
        sc = Scenario("", "larlsl", cpl=cpl, regs=rand_regs(rng))
        kname, d, (s, typ, dpl, p, limit, g, base) = rand_seg_desc(rng)
        if rng.random() < 0.1:
            # call/interrupt/trap/task gates
            typ = rng.choice([4, 5, 6, 7, 0xC, 0xE, 0xF])
            kname = f"gate{typ:x}"
            d = gate(code_sel(0), 0x1234, typ, dpl=dpl, p=p)
        rpl = rng.randrange(4)
        where = rng.choices(["gdt", "ldt", "null", "beyond"], [80, 10, 5, 5])[0]
        if where == "gdt":
            sc.gdt[SLOT] = d
            sel = SEL_TEST | rpl
        elif where == "ldt":
            sc.ldt[2] = d
            sel = 0x10 | 4 | rpl
        elif where == "null":
            sel = rpl
        else:
            sel = 300 * 8 | rpl
        wide = rng.random() < 0.8
        dst1, dst2 = ("ecx", "edx") if wide else ("cx", "dx")
        sc.body = (f"mov esi, {sel:#x}\nlar {dst1}, si\nsetz bl\nlsl {dst2}, si\nsetz bh\n"
                   f"verr si\nsetz al\nverw si\nsetz ah")
        # LAR with 32-bit operand: bits 19:16 undefined (SDM Vol. 2A LAR: "masked by 00FXFF00H").
        sc.reg_mask = [0xFFFFFFFF, 0xFFF0FFFF if wide else 0xFFFFFFFF] + [0xFFFFFFFF] * 6
        sc.name = f"larlsl_cpl{cpl}_{where}_{kname}_d{dpl}r{rpl}p{p}g{g}_{'32' if wide else '16'}_{i}"
        yield sc


# ---------------------------------------------------------------------------------------------
CR0_BITS = [1, 2, 3, 5, 16, 18, 30]     # MP EM TS NE WP AM CD (NW stays 0)
CR4_BITS = [2, 3, 4, 7, 8, 9, 10]       # TSD DE PSE PGE PCE OSFXSR OSXMMEXCPT


def fam_cr(rng):
    """MOV to/from CR0/CR2/CR3/CR4, CLTS, LMSW, SMSW at CPL 0; invalid combinations."""
    for i in range(110):
        paging = rng.random() < 0.3
        sc = Scenario("", "cr", paging=paging, regs=rand_regs(rng))
        v0 = 0x11 | (0x80000000 if paging else 0)
        for b in CR0_BITS:
            if rng.random() < 0.4:
                v0 |= 1 << b
        v4 = 0
        for b in CR4_BITS:
            if rng.random() < 0.4:
                v4 |= 1 << b
        v3 = PD | rng.choice([0, 0x8, 0x10, 0x18])
        v2 = rng.getrandbits(32)
        msw = rng.getrandbits(4) | 1
        sc.body = (f"mov eax, {v0:#x}\nmov cr0, eax\nmov ebx, cr0\nmov eax, {v4:#x}\nmov cr4, eax\n"
                   f"mov ecx, cr4\nmov eax, {v3:#x}\nmov cr3, eax\nmov edx, cr3\n"
                   f"mov eax, {v2:#x}\nmov cr2, eax\nmov esi, cr2\nclts\nmov edi, cr0\n"
                   f"mov ax, {msw:#x}\nlmsw ax\nsmsw ebp\nmov eax, cr0")
        sc.reg_mask = [0xFFFFFFFF] * 5 + [0xFFFF] + [0xFFFFFFFF] * 2   # SMSW EBP: bits 31:16 undefined
        sc.name = f"cr_moves_cr0_{v0:08x}_cr4_{v4:x}_{i}"
        yield sc
    invalid = [
        ("nw_without_cd", "mov eax, 0x20000011\nmov cr0, eax",
         "SDM Vol. 2B MOV (control registers): setting CR0.NW with CR0.CD clear is #GP(0); QEMU accepts it"),
        ("pg_without_pe", "mov eax, 0x80000010\nmov cr0, eax",
         "SDM Vol. 2B MOV (control registers): setting CR0.PG with CR0.PE clear is #GP(0); QEMU accepts it"),
        ("cr4_reserved_bit23", "mov eax, 0x00800000\nmov cr4, eax",
         "SDM Vol. 3A §2.5 / Vol. 2B MOV: setting a reserved CR4 bit is #GP(0); QEMU 5 (Unicorn 2.0.1) does not check"),
        ("cr4_reserved_bit31", "mov eax, 0x80000000\nmov cr4, eax",
         "SDM Vol. 3A §2.5 / Vol. 2B MOV: setting a reserved CR4 bit is #GP(0); QEMU 5 (Unicorn 2.0.1) does not check"),
    ]
    for name, body, kd in invalid:
        sc = Scenario(f"cr_invalid_{name}", "cr")
        sc.body = body
        sc.known = kd
        yield sc


# ---------------------------------------------------------------------------------------------
def fam_paging(rng):
    """4 KiB pages: PDE/PTE P, R/W, U/S, A, D at CPL 0/3 with CR0.WP, read/write/RMW/fetch."""
    for i in range(560):
        cpl = rng.choice([0, 3])
        wp = rng.randrange(2)
        sc = Scenario("", "paging", cpl=cpl, paging=True, cr0_extra=(wp << 16), regs=rand_regs(rng))
        k = rng.randrange(16)
        pde = PT1 | (0 if rng.random() < 0.08 else 1) | rng.randrange(2) << 1 | rng.randrange(2) << 2 \
            | (0x20 if rng.random() < 0.7 else 0)
        pte = (TARGET_PHYS + k * 0x1000) | (0 if rng.random() < 0.12 else 1) | rng.randrange(2) << 1 \
            | rng.randrange(2) << 2 | (0x20 if rng.random() < 0.5 else 0) | (0x40 if rng.random() < 0.4 else 0)
        sc.pd[1] = pde
        sc.pt1[k] = pte
        off = rng.choice([0, 4, 0x10, 0x800, 0xFFC, 0xFFE])
        lin = 0x400000 + k * 0x1000 + off
        acc = rng.choice(["read", "write", "rmw", "fetch", "push"])
        if acc == "read":
            body = f"mov ecx, [{lin:#x}]"
        elif acc == "write":
            body = f"mov dword [{lin:#x}], 0x5a5a5a5a"
        elif acc == "rmw":
            body = f"add [{lin:#x}], ecx"
        elif acc == "push":
            body = f"mov esi, esp\nmov esp, {lin + 4:#x}\npush dword 0x77\nmov esp, esi"
        else:
            # a RET at the target frame's offset 0x10
            sc.extra[TARGET_PHYS + k * 0x1000 + 0x10] = b"\xc3"
            lin = 0x400000 + k * 0x1000 + 0x10
            body = f"mov eax, {lin:#x}\ncall eax"
        if off == 0xFFE and acc not in ("fetch", "push"):
            # crosses into the next page, which is a present, writable user page
            pass
        sc.body = body + f"\nmov edx, [{DATA0:#x}]"
        init_pde_a = pde & 0x20

        def post(rec, init_pde_a=init_pde_a, acc=acc, lin=lin):
            ex = rec['expect']['exception']
            if ex and ex['vector'] == 14 and acc == "fetch" and rec['expect']['cr2'] != lin:
                rec['knownDifference'] = KD_FETCH_CR2
                return
            if ex and ex['vector'] == 14 and acc == "rmw":
                rec['knownDifference'] = KD_RMW_W
                return
            if ex and ex['vector'] == 14 and not init_pde_a:
                if any(PD <= a < PD + 0x1000 for a, _ in rec['expect']['memory']):
                    rec['knownDifference'] = KD_PDE_A
        sc.post = post
        sc.name = f"paging_cpl{cpl}_wp{wp}_{acc}_pde{pde & 0x27:02x}_pte{pte & 0x67:02x}_{i}"
        yield sc


def fam_pse(rng):
    """4 MiB pages (CR4.PSE), PS with CR4.PSE clear, and permissions on large pages."""
    for i in range(140):
        cpl = rng.choice([0, 3])
        pse = 0 if rng.random() < 0.15 else 1
        wp = rng.randrange(2)
        sc = Scenario("", "pse", cpl=cpl, paging=True, cr0_extra=wp << 16, cr4=pse << 4, regs=rand_regs(rng))
        pde = PSE_PHYS | 0x80 | (0 if rng.random() < 0.1 else 1) | rng.randrange(2) << 1 | rng.randrange(2) << 2 \
            | (0x20 if rng.random() < 0.5 else 0) | (0x40 if rng.random() < 0.4 else 0)
        sc.pd[2] = pde
        off = rng.choice([0, 4, 0x1000, 0x123450, 0x3FFFFC])
        lin = 0x800000 + off
        sc.pages_extra.append((PSE_PHYS + off) & ~0xFFF)
        acc = rng.choice(["read", "write", "rmw"])
        body = {"read": f"mov ecx, [{lin:#x}]", "write": f"mov dword [{lin:#x}], 0x5a5a5a5a",
                "rmw": f"add [{lin:#x}], ecx"}[acc]
        sc.body = body
        init_pde_a = pde & 0x20

        def post(rec, init_pde_a=init_pde_a, acc=acc):
            ex = rec['expect']['exception']
            if ex and ex['vector'] == 14 and acc == "rmw":
                rec['knownDifference'] = KD_RMW_W
            elif ex and ex['vector'] == 14 and not init_pde_a:
                if any(PD <= a < PD + 0x1000 for a, _ in rec['expect']['memory']):
                    rec['knownDifference'] = KD_PDE_A
        sc.post = post
        sc.name = f"pse_cpl{cpl}_pse{pse}_wp{wp}_{acc}_pde{pde & 0xE7:02x}_off{off:x}_{i}"
        yield sc


def fam_invlpg(rng):
    """PTE edits made visible with INVLPG or a CR3 reload (never relying on stale TLB entries)."""
    for i in range(40):
        sc = Scenario("", "invlpg", paging=True, regs=rand_regs(rng))
        k = rng.randrange(16)
        lin = 0x400000 + k * 0x1000
        # Same frame, new permissions: remapping to another frame would need Unicorn to honour the
        # translation, which it does not (README.md).
        newframe = TARGET_PHYS + k * 0x1000
        newflags = rng.choice([0x27, 0x25, 0x26, 0x07, 0x67, 0x23, 0x21])
        sc.cpl = rng.choice([0, 3])
        flush = rng.choice(["invlpg", "cr3"])
        fl = f"invlpg [{lin:#x}]" if flush == "invlpg" else "mov eax, cr3\nmov cr3, eax"
        sc.body = (f"mov ecx, [{lin:#x}]\nmov dword [{PT1 + 4 * k:#x}], {newframe | newflags:#x}\n{fl}\n"
                   f"mov edx, [{lin:#x}]\nmov dword [{lin + 8:#x}], 0x99")
        if sc.cpl == 3:
            # INVLPG is privileged: at CPL 3 only read and write (A/D updates) through the window.
            sc.body = f"mov ecx, [{lin:#x}]\nmov dword [{lin + 8:#x}], 0x99\nmov edx, [{lin + 8:#x}]"
        sc.name = f"invlpg_{flush}_cpl{sc.cpl}_k{k}_f{newflags:02x}_{i}"
        yield sc


# ---------------------------------------------------------------------------------------------
def fam_faults(rng):
    """INTO, BOUND, DIV/IDIV faults (and non-faults), INT3, INT n through gates."""
    for i in range(40):
        cpl = rng.choice([0, 3])
        sc = Scenario("", "faults", cpl=cpl, regs=rand_regs(rng))
        a, b = rng.choice([(0x7FFFFFFF, 1), (1, 1), (0x80000000, -1), (5, 7)])
        sc.body = f"mov eax, {a:#x}\nadd eax, {b & 0xFFFFFFFF:#x}\ninto\nmov ebx, 1"
        sc.name = f"faults_into_cpl{cpl}_{a:x}_{i}"
        yield sc
    for i in range(60):
        cpl = rng.choice([0, 3])
        sc = Scenario("", "faults", cpl=cpl, regs=rand_regs(rng))
        wide = rng.random() < 0.7
        lo, hi = sorted([rng.randrange(-50, 50), rng.randrange(-50, 50)])
        idx = rng.choice([lo - 1, lo, hi, hi + 1, (lo + hi) // 2, rng.randrange(-60, 60)])
        addr = DATA0 + 0x100
        if wide:
            sc.body = (f"mov dword [{addr:#x}], {lo & 0xFFFFFFFF:#x}\nmov dword [{addr + 4:#x}], {hi & 0xFFFFFFFF:#x}\n"
                       f"mov eax, {idx & 0xFFFFFFFF:#x}\nbound eax, [{addr:#x}]\nmov ebx, 1")
        else:
            sc.body = (f"mov word [{addr:#x}], {lo & 0xFFFF:#x}\nmov word [{addr + 2:#x}], {hi & 0xFFFF:#x}\n"
                       f"mov ax, {idx & 0xFFFF:#x}\nbound ax, [{addr:#x}]\nmov ebx, 1")
        sc.name = f"faults_bound{'32' if wide else '16'}_cpl{cpl}_{idx}_in_{lo}_{hi}_{i}"
        yield sc
    for i in range(90):
        cpl = rng.choice([0, 3])
        sc = Scenario("", "faults", cpl=cpl, regs=rand_regs(rng))
        op = rng.choice(["div", "idiv"])
        size = rng.choice([8, 16, 32])
        kind = rng.choice(["zero", "overflow", "ok", "ok"])
        m = (1 << size) - 1
        if kind == "zero":
            dvs = 0
            hi_, lo_ = rng.getrandbits(size), rng.getrandbits(size)
        elif kind == "overflow":
            dvs = rng.randrange(1, 4) if op == "div" else 0xFFFFFFFF & m  # -1
            hi_, lo_ = (rng.randrange(4, m) if op == "div" else 1 << (size - 1)) & m, 0 if op == "idiv" else rng.getrandbits(size)
            if op == "idiv":
                hi_ = m
                lo_ = 1 << (size - 1)
        else:
            dvs = rng.randrange(1, m)
            hi_, lo_ = 0, rng.getrandbits(size)
        if size == 8:
            setup = f"mov ax, {(hi_ << 8 | lo_) & 0xFFFF:#x}\nmov cl, {dvs:#x}\n{op} cl"
        elif size == 16:
            setup = f"mov dx, {hi_:#x}\nmov ax, {lo_:#x}\nmov cx, {dvs:#x}\n{op} cx"
        else:
            setup = f"mov edx, {hi_:#x}\nmov eax, {lo_:#x}\nmov ecx, {dvs:#x}\n{op} ecx"
        sc.body = setup + "\nmov ebx, 1"
        sc.eflags_mask = 0xFFFFFFFF & ~0x8D5    # arithmetic flags undefined after DIV/IDIV
        sc.name = f"faults_{op}{size}_{kind}_cpl{cpl}_{i}"
        yield sc
    for cpl in (0, 3):
        sc = Scenario(f"faults_int3_cpl{cpl}", "faults", cpl=cpl)
        sc.idt[3] = gate(code_sel(0), CODE, 0xE, dpl=3)
        sc.body = "mov ebx, 1\nint3\nmov ebx, 2"
        yield sc
        sc = Scenario(f"faults_ud2_cpl{cpl}", "faults", cpl=cpl)
        sc.body = "mov ebx, 1\nud2\nmov ebx, 2"
        yield sc
    # INT n for n < 32 through gates the caller may use; Unicorn reports vector n, EIP after INT.
    for i in range(40):
        cpl = rng.choice([0, 3])
        n = rng.choice([v for v in range(32) if v not in (2, 8, 9, 15)] + [3, 4])
        gdpl = rng.randrange(cpl, 4)
        typ = rng.choice([0xE, 0xF])
        sc = Scenario(f"faults_intn_{n}_cpl{cpl}_gate{typ:x}d{gdpl}_{i}", "faults", cpl=cpl, regs=rand_regs(rng))
        sc.body = f"int {n}\nmov ebx, 2"
        sc.tail = "ih: ud2"
        sc.idt[n] = gate(code_sel(0), sc.label("ih"), typ, dpl=gdpl)
        sc.int_handler = sc.label("ih")
        yield sc
    for i in range(8):
        n = rng.choice([5, 13, 14, 17, 21, 30])
        p = i % 2
        sc = Scenario(f"faults_intn_{n}_cpl3_gated0p{p}_{i}", "faults", cpl=3, regs=rand_regs(rng))
        sc.body = f"int {n}\nmov ebx, 2"
        sc.tail = "ih: ud2"
        sc.idt[n] = gate(code_sel(0), sc.label("ih"), 0xE, dpl=0, p=p)
        sc.known = KD_INT_GATE + (": expected #GP(%#x)" % (n * 8 + 2))
        yield sc


# ---------------------------------------------------------------------------------------------
def fam_priv(rng):
    """Privileged instructions at CPL 1-3 (#GP(0)); unprivileged system reads at CPL 3."""
    priv = [
        ("hlt", "hlt"), ("clts", "clts"), ("lgdt", f"lgdt [{0x800:#x}]"), ("lidt", f"lidt [{0x808:#x}]"),
        ("lldt", f"mov ax, {SEL_LDT:#x}\nlldt ax"), ("ltr", f"mov ax, {SEL_TSS:#x}\nltr ax"),
        ("movcr0w", "mov cr0, eax"), ("movcr0r", "mov eax, cr0"), ("movcr2r", "mov eax, cr2"),
        ("movcr3w", "mov cr3, eax"), ("movcr3r", "mov eax, cr3"), ("movcr4r", "mov eax, cr4"),
        ("movdr7w", "mov dr7, eax"), ("movdr7r", "mov eax, dr7"), ("movdr0r", "mov eax, dr0"),
        ("invlpg", f"invlpg [{DATA0:#x}]"), ("wbinvd", "wbinvd"), ("invd", "invd"),
        ("rdmsr", "xor ecx, ecx\nrdmsr"), ("wrmsr", "mov ecx, 0x10\nwrmsr"), ("lmsw", "mov ax, 1\nlmsw ax"),
    ]
    for cpl in (1, 2, 3):
        for name, body in priv:
            sc = Scenario(f"priv_{name}_cpl{cpl}", "priv", cpl=cpl, regs=rand_regs(rng))
            sc.body = f"mov ebx, 1\n{body}\nmov ebx, 2"
            yield sc
    unpriv = [
        ("sgdt", f"sgdt [{DATA0 + 0x80:#x}]"), ("sidt", f"sidt [{DATA0 + 0x90:#x}]"),
        ("sldt", "sldt eax"), ("str", "str eax"), ("smsw", "smsw eax"), ("smsw16", "smsw ax"),
    ]
    for cpl in (0, 3):
        for name, body in unpriv:
            sc = Scenario(f"priv_{name}_ok_cpl{cpl}", "priv", cpl=cpl, regs=rand_regs(rng))
            sc.body = f"mov ebx, 1\n{body}\nmov ebx, 2"
            if name == "smsw":
                sc.reg_mask = [0xFFFF] + [0xFFFFFFFF] * 7   # SDM Vol. 2B SMSW: r32 bits 31:16 undefined
            yield sc
    for cpl in (0, 3):
        sc = Scenario(f"priv_rdtsc_tsd_cpl{cpl}", "priv", cpl=cpl, cr4=1 << 2)
        sc.body = "rdtsc" if cpl == 3 else "mov ebx, 1"
        yield sc
        sc = Scenario(f"priv_rdpmc_pce0_cpl{cpl}", "priv", cpl=cpl)
        sc.body = "xor ecx, ecx\nrdpmc" if cpl == 3 else "mov ebx, 1"
        if cpl == 3:
            sc.known = ("SDM Vol. 2B RDPMC: CPL > 0 with CR4.PCE = 0 is #GP(0); QEMU 5 raises #UD "
                        "(its PCE test is inverted and the counters are not implemented)")
        yield sc


# ---------------------------------------------------------------------------------------------
IO_INSNS = [
    ("in_al_imm", 1, True, lambda p: f"in al, {p & 0xFF:#x}"),
    ("in_ax_dx", 2, True, lambda p: f"mov dx, {p:#x}\nioi: in ax, dx"),
    ("in_eax_dx", 4, True, lambda p: f"mov dx, {p:#x}\nioi: in eax, dx"),
    ("out_imm_al", 1, False, lambda p: f"out {p & 0xFF:#x}, al"),
    ("out_dx_ax", 2, False, lambda p: f"mov dx, {p:#x}\nioi: out dx, ax"),
    ("out_dx_eax", 4, False, lambda p: f"mov dx, {p:#x}\nioi: out dx, eax"),
]


def fam_iopl(rng):
    """CLI/STI and IN/OUT under CPL vs IOPL and the TSS I/O bitmap; PUSHF/POPF IF/IOPL at CPL>0."""
    for i in range(140):
        cpl = rng.choice([0, 1, 3, 3, 3])
        iopl = rng.randrange(4)
        ifl = rng.randrange(2)
        sc = Scenario("", "iopl", cpl=cpl, eflags=0x2 | iopl << 12 | ifl << 9, regs=rand_regs(rng))
        kind = rng.choice(["cli", "sti", "io", "io", "io"])
        if kind in ("cli", "sti"):
            sc.body = f"{kind}\npushfd\npop ebx"
            sc.name = f"iopl_{kind}_cpl{cpl}_iopl{iopl}_if{ifl}_{i}"
        else:
            name, size, _, fn = rng.choice(IO_INSNS)
            port = rng.choice([0x60, 0x3F8, 0x80, 0x1F0, 0xFFFF, 0xFFFE, 0x7, 0x3FF]) if "dx" in name \
                else rng.choice([0x60, 0x80, 0x7, 0xF8, 0xFF])
            # I/O bitmap: deny some ports around the target
            bm = rng.choice(["none", "port", "last", "all"])
            if bm == "port":
                sc.tss[IOMAP + port // 8] |= 1 << (port % 8)
            elif bm == "last":
                q = min(port + size - 1, 0xFFFF)
                sc.tss[IOMAP + q // 8] |= 1 << (q % 8)
            elif bm == "all":
                for b in range(0x2000):
                    sc.tss[IOMAP + b] = 0xFF
            if rng.random() < 0.1:
                # TSS limit too small to hold the bitmap byte(s)
                sc.gdt[9] = desc(TSS, 0x67, 0x9, s=0, db=0)
                bm += "_shortlimit"
            if cpl > iopl:
                q_end = min(port + size - 1, 0xFFFF)
                limit_ok = not bm.endswith("_shortlimit") and IOMAP + q_end // 8 + 1 <= IOMAP + 0x2000
                denied = (not limit_ok) or any(sc.tss[IOMAP + q // 8] >> (q % 8) & 1
                                               for q in range(port, q_end + 1))
                if port + size - 1 > 0xFFFF:
                    denied = True
                if denied:
                    sc.known = KD_IOBITMAP
            code = fn(port)
            if "ioi:" not in code:
                code = "ioi: " + code
            sc.body = f"mov eax, {rng.getrandbits(32):#x}\n{code}\nmov ebx, 2"
            sc.name = f"iopl_{name}_{port:x}_cpl{cpl}_iopl{iopl}_bm{bm}_{i}"
        yield sc
    for i in range(80):
        cpl = rng.choice([0, 1, 2, 3, 3])
        iopl = rng.randrange(4)
        ifl = rng.randrange(2)
        sc = Scenario("", "iopl", cpl=cpl, eflags=0x2 | iopl << 12 | ifl << 9, regs=rand_regs(rng))
        new = (rng.getrandbits(22) & 0x3F7FD5) | 2       # no VM(17) here; RF (16) sometimes
        new &= ~(1 << 8)                                  # no TF: no #DB in these scenarios
        new &= ~(1 << 14)                                 # no NT
        wide = rng.random() < 0.8
        if wide:
            sc.body = f"push dword {new:#x}\npopfd\npushfd\npop ebx"
        else:
            sc.body = f"push word {new & 0xFFFF:#x}\npopf\npushf\npop bx"
        sc.name = f"iopl_popf{'d' if wide else ''}_cpl{cpl}_iopl{iopl}_if{ifl}_{new:06x}_{i}"
        yield sc


# ---------------------------------------------------------------------------------------------
def code_desc(dpl, conforming=False, p=1, limit=0xFFFFF, g=1):
    # accessed already: QEMU does not set A when a far transfer loads CS (machine.py FLAT_CODE)
    return desc(0, limit, 0xF if conforming else 0xB, dpl=dpl, p=p, g=g)


def fam_farjmp(rng):
    """Far JMP/CALL direct to code segments of every kind, and far JMP through call gates."""
    for i in range(150):
        cpl = rng.choice([0, 1, 2, 3, 3])
        sc = Scenario("", "farjmp", cpl=cpl, regs=rand_regs(rng))
        kind = rng.choices(["code", "conf", "data", "sys", "null", "beyond", "gate"], [35, 20, 8, 7, 5, 5, 20])[0]
        dpl = rng.randrange(4)
        p = 0 if rng.random() < 0.12 else 1
        small = rng.random() < 0.1
        rpl = rng.randrange(4)
        lim, g = (0xFFF, 0) if small else (0xFFFFF, 1)
        if kind in ("code", "conf"):
            sc.gdt[SLOT] = code_desc(dpl, kind == "conf", p, lim, g)
        elif kind == "data":
            sc.gdt[SLOT] = desc(0, 0xFFFFF, 2, dpl=dpl, p=p, g=1)
        elif kind == "sys":
            sc.gdt[SLOT] = desc(TSS2, 0x67, rng.choice([2, 3, 0xB]), s=0, dpl=dpl, p=p)
        sel = {"null": rpl, "beyond": 255 * 8 | rpl}.get(kind, SEL_TEST | rpl)
        insn = rng.choice(["jmp", "call"])
        if kind == "gate":
            tdpl = rng.randrange(4)
            conf = rng.random() < 0.3
            tp = 1 if rng.random() < 0.9 else 0
            sc.gdt[SLOT] = code_desc(tdpl, conf, tp)
            sc.gdt[SLOT + 2] = gate(SEL_TEST, 0, 0xC, dpl=dpl, p=p)      # offset patched below
            if not tp:
                def post(rec):
                    ex = rec['expect']['exception']
                    if ex and ex['vector'] == 13 and ex['errorCode'] == SEL_TEST:
                        rec['knownDifference'] = (
                            "SDM Vol. 2A JMP (call-gate path): a not-present target code segment is "
                            "#NP(selector) once the privilege checks pass; QEMU 5 raises #GP(selector)")
                sc.post = post
            sel = SEL_GATE | rpl
            insn = "jmp"
        sc.tail = "tgt: mov ebx, 3\nud2"
        if kind == "gate":
            sc.body = f"mov ebx, 1\njmp {sel:#x}:0\nmov ebx, 2"
            t = sc.label("tgt")
            sc.gdt[SLOT + 2] = gate(SEL_TEST, t, 0xC, dpl=dpl, p=p)
        else:
            sc.body = f"mov ebx, 1\nmov edi, esp\n{insn} {sel:#x}:tgt\nmov ebx, 2"
        sc.name = f"farjmp_{insn}_{kind}_cpl{cpl}_d{dpl}r{rpl}p{p}{'_small' if small else ''}_{i}"
        yield sc


def fam_callgate(rng):
    """Far CALL through call gates: privilege checks, TSS stack switch, parameter copy, RETF back."""
    for i in range(260):
        cpl = rng.choice([1, 2, 3, 3, 3, 0])
        sc = Scenario("", "callgate", cpl=cpl, regs=rand_regs(rng))
        gdpl = rng.choice([cpl, 3, rng.randrange(4)])
        rpl = rng.choice([cpl, 0, rng.randrange(4)])
        tdpl = rng.choice([0, 0, rng.randrange(4)])
        conf = rng.random() < 0.15
        gp = 0 if rng.random() < 0.06 else 1
        tp = 0 if rng.random() < 0.06 else 1
        nparams = rng.choice([0, 0, 1, 2, 3])
        g16 = rng.random() < 0.1
        back = rng.random() < 0.5
        sc.gdt[SLOT] = code_desc(tdpl, conf, tp)
        if rng.random() < 0.05:
            # TSS ring-0 stack selector that is not a writable data segment at that DPL
            bad = rng.choice([0, code_sel(0), data_sel(3), data_sel(1)])
            sc.tss[8:10] = bad.to_bytes(2, "little")
        params = "\n".join(f"push dword {0x1111 * (j + 1):#x}" for j in range(nparams))
        ret = (f"retf {4 * nparams}" if not g16 else f"o16 retf {2 * nparams}") if nparams else \
            ("retf" if not g16 else "o16 retf")
        sc.body = f"mov ebx, 1\n{params}\ncall {SEL_GATE | rpl:#x}:0\nmov ebx, 2\nmov ecx, esp"
        sc.tail = "tgt: mov edx, esp\nmov esi, ss\n" + (f"{ret}\n" if back else "ud2\n")
        t = sc.label("tgt")
        sc.gdt[SLOT + 2] = gate(SEL_TEST, t, 0x4 if g16 else 0xC, dpl=gdpl, p=gp, params=nparams)
        if conf and tdpl < cpl:
            sc.known = KD_CONF_GATE
        sc.name = (f"callgate_cpl{cpl}_g{gdpl}r{rpl}p{gp}_t{tdpl}{'c' if conf else ''}p{tp}_n{nparams}"
                   f"{'_g16' if g16 else ''}{'_ret' if back else ''}_{i}")
        yield sc


def fam_retf(rng):
    """Far RET to the same and outer privilege levels: RPL checks, SS checks, segment nulling."""
    for i in range(110):
        cpl = rng.choice([0, 0, 1, 2])
        sc = Scenario("", "retf", cpl=cpl, regs=rand_regs(rng))
        tcpl = rng.choice([cpl, 3, 3, rng.randrange(4)])
        cs = code_sel(tcpl) if rng.random() < 0.85 else rng.choice([code_sel(tcpl) & ~3, data_sel(tcpl), 0])
        ss = data_sel(tcpl) if rng.random() < 0.85 else rng.choice([data_sel(tcpl) & ~3, code_sel(tcpl), 0, data_sel(0)])
        esp = STACK_TOP[tcpl] - 0x20
        keep = rng.choice(["ds0", "dscur", "fs_conf"])
        pre = ""
        if keep == "fs_conf":
            pre = f"mov ax, {SEL_CONF0:#x}\nmov fs, ax\n" if cpl == 0 else ""
        n = rng.choice([0, 0, 8])
        sc.body = (f"{pre}mov ebx, 1\npush dword {ss:#x}\npush dword {esp:#x}\n"
                   + "".join(f"push dword {0xAA00 + j:#x}\n" for j in range(n // 4))
                   + f"push dword {cs:#x}\npush dword tgt\nretf {n}\nmov ebx, 2")
        if tcpl == cpl and cs == code_sel(cpl):
            sc.body = (f"mov ebx, 1\npush dword {cs:#x}\npush dword tgt\nretf\nmov ebx, 2")
        sc.tail = "tgt: mov edx, esp\nud2"
        sc.name = f"retf_cpl{cpl}_to{tcpl}_cs{cs:x}_ss{ss:x}_{keep}_n{n}_{i}"
        yield sc


def fam_iret(rng):
    """IRET to the same and outer levels: EFLAGS IF/IOPL update rules, selector checks."""
    for i in range(160):
        cpl = rng.choice([0, 0, 1, 3, 3])
        iopl = rng.randrange(4)
        sc = Scenario("", "iret", cpl=cpl, eflags=0x2 | iopl << 12 | rng.randrange(2) << 9, regs=rand_regs(rng))
        tcpl = rng.choice([cpl, cpl, 3, rng.randrange(cpl, 4)])
        new = (rng.getrandbits(22) & 0x2C7FD5) | 2    # no TF, NT, VM; RF sometimes; AC/ID
        cs = code_sel(tcpl) if rng.random() < 0.9 else rng.choice([code_sel(tcpl) & ~3, data_sel(tcpl), 0, code_sel(tcpl) | 0])
        ss = data_sel(tcpl) if rng.random() < 0.9 else rng.choice([0, data_sel(tcpl) & ~3, code_sel(tcpl)])
        esp = STACK_TOP[tcpl] - 0x40
        if tcpl != cpl or cs & 3 != cpl:
            frame = f"push dword {ss:#x}\npush dword {esp:#x}\n"
        else:
            frame = ""
        sc.body = (f"mov ebx, 1\n{frame}push dword {new:#x}\npush dword {cs:#x}\npush dword tgt\n"
                   f"iretd\nmov ebx, 2")
        sc.tail = "tgt: pushfd\npop edx\nmov ecx, esp\nud2"
        sc.name = f"iret_cpl{cpl}_iopl{iopl}_to{tcpl}_cs{cs:x}_ss{ss:x}_fl{new:06x}_{i}"
        if cpl == 0 and new & 0x180000:
            def post(rec):
                # The IRET completed: #UD at the target, or the single-step #DB after it (TF).
                if (rec['expect']['exception'] or {}).get('vector') in (1, 6):
                    rec['knownDifference'] = KD_IRET_VIF
            sc.post = post
        yield sc


FAMILIES = [
    ("segload", fam_segload), ("ldt", fam_ldt), ("ltr", fam_ltr), ("larlsl", fam_larlsl),
    ("cr", fam_cr), ("paging", fam_paging), ("pse", fam_pse), ("invlpg", fam_invlpg),
    ("faults", fam_faults), ("priv", fam_priv), ("iopl", fam_iopl), ("farjmp", fam_farjmp),
    ("callgate", fam_callgate), ("retf", fam_retf), ("iret", fam_iret),
    ("v86", fam_v86), ("task", fam_task),
]
