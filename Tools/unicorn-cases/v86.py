"""Virtual-8086 mode (SDM Vol. 3A Chapter 20): the `v86` family, and the V86 bodies the `task`
family's V86 tasks run. Unicorn 2.0.1 (QEMU 5 TCG) implements neither CR4.VME nor CR4.PVI (CLI,
PUSHF and a redirected INT n at IOPL < 3 are #GP(0) with VME set; CLI at CPL 3 with PVI is #GP(0)),
so no VME/PVI scenario is generated.
"""

from machine import Scenario, gate, code_sel, IOMAP
from delivery import v86_delivery, IF, NT, RF, VM, AC, VIF, VIP, ID, ARITH

# CS paragraph 0x100 is the code image (IP = address - 0x1000), SS:SP the ring-3 stack page, DS/ES
# the data pages.
V86_CS, V86_SS, V86_SP, V86_DS, V86_ES = 0x100, 0xB00, 0xFF0, 0x300, 0x400
V86_BASE = V86_CS << 4

KD_V86_IOBITMAP = ("SDM Vol. 3A §20.2.8.1 (I/O in virtual-8086 mode) and Vol. 1 §19.5.2: IN/OUT in "
                   "virtual-8086 mode are checked against the TSS I/O permission bitmap whatever IOPL; a "
                   "set bit or a bit outside the TSS limit is #GP(0); Unicorn 2.0.1 performs the access")
KD_PUSHFD_VM = ("SDM Vol. 2B PUSHF/PUSHFD: the VM and RF flags are cleared in the EFLAGS image PUSHFD "
                "stores; QEMU 5 pushes them as they are (VM = 1 from virtual-8086 mode)")
KD_IRET_VM_CPL3 = ("SDM Vol. 2A IRET: only at CPL 0 does VM = 1 in the popped EFLAGS return to virtual-8086 "
                   "mode; at CPL 3 it is a protected-mode return (CS 0x100 lies beyond the GDT: #GP(0x100)); "
                   "QEMU 5 enters virtual-8086 mode from any CPL")



# ---------------------------------------------------------------------------------------------
# Virtual-8086 bodies

V86_UD = ["lar ax, bx", "lsl ax, bx", "verr ax", "verw ax", "arpl bx, ax", "sldt ax", "str ax",
          "lldt ax", "ltr ax", "ud2"]
V86_PRIV = ["hlt", "mov eax, cr0", "clts", "mov dr7, eax", "wbinvd"]
V86_INT = [0x10, 0x21, 0x2F, 0x80, 0xFF, 5, 13, 0x31]
V86_IO = [
    ("in_al_imm", 1, lambda p: f"ioi: in al, {p & 0xFF:#x}"),
    ("in_ax_dx", 2, lambda p: f"mov dx, {p:#x}\nioi: in ax, dx"),
    ("in_eax_dx", 4, lambda p: f"mov dx, {p:#x}\nioi: in eax, dx"),
    ("out_imm_al", 1, lambda p: f"ioi: out {p & 0xFF:#x}, al"),
    ("out_dx_ax", 2, lambda p: f"mov dx, {p:#x}\nioi: out dx, ax"),
    ("out_dx_eax", 4, lambda p: f"mov dx, {p:#x}\nioi: out dx, eax"),
]
V86_TERMS = ["ud", "priv", "de", "int3", "into", "intn", "intn", "io", "io"]


def v86_flags(rng, width):
    """A random FLAGS/EFLAGS image for POPF/IRET in V86 (no TF: no single-step #DB here)."""
    bits = ARITH | IF | NT | 0x3000 | (0 if width == 16 else (AC | ID | RF | VM | VIF | VIP))
    return (rng.getrandbits(22) & bits) | 2


def v86_op(rng, k):
    """One V86 instruction group; CLI/STI/PUSHF/POPF/IRET are IOPL-sensitive (#GP(0) unless IOPL 3)."""
    kind = rng.choice(["mov", "arith", "stack", "sreg", "cli", "sti", "pushf", "pushfd", "popf",
                       "popfd", "iret", "iretd", "mov"])
    if kind == "mov":
        return kind, (f"mov bx, {rng.randrange(0, 0x7F0) & ~1:#x}\nmov ax, {rng.getrandbits(16):#x}\n"
                      f"mov [bx+{rng.randrange(16)}], ax\nmov cx, [bx+{rng.randrange(16)}]")
    if kind == "arith":
        return kind, "add ax, cx\nadc dx, si\nxor di, bp\nshl ax, 3\ninc bp"
    if kind == "stack":
        return kind, f"push ax\npush word {rng.getrandbits(16):#x}\npop dx\npop cx\npush es\npop ds"
    if kind == "sreg":
        para = rng.choice([0x300, 0x400, 0x350, 0x3F0])
        return kind, f"mov ax, {para:#x}\nmov es, ax\nmov [es:{rng.randrange(0x100) & ~1:#x}], dx"
    if kind in ("cli", "sti"):
        return kind, kind
    if kind == "pushf":
        return kind, "pushf\npop dx"
    if kind == "pushfd":
        return kind, "pushfd\npop edx"
    if kind == "popf":
        return kind, f"push word {v86_flags(rng, 16):#x}\npopf"
    if kind == "popfd":
        return kind, f"push dword {v86_flags(rng, 32):#x}\npopfd"
    if kind == "iret":
        return kind, (f"push word {v86_flags(rng, 16):#x}\npush cs\npush word .r{k} - {V86_BASE:#x}\n"
                      f"iret\n.r{k}:")
    return kind, (f"push dword {v86_flags(rng, 32):#x}\npush dword {V86_CS:#x}\n"
                  f"push dword .r{k} - {V86_BASE:#x}\niretd\n.r{k}:")


def v86_body(rng, tss, iomap, term):
    """Random V86 instructions then a terminator; I/O bitmap bits go into `tss` (bytes at `iomap`).
    Returns (code, name, denied): denied = an I/O access the bitmap refuses."""
    ops = [v86_op(rng, k) for k in range(rng.randrange(0, 6))]
    code = [c for _, c in ops]
    denied = False
    if term == "ud":
        t = rng.choice(V86_UD)
        code.append(t)
        name = "ud_" + t.split()[0]
    elif term == "priv":
        t = rng.choice(V86_PRIV)
        code.append(t)
        name = "priv_" + t.split()[0]
    elif term == "de":
        code.append("xor bl, bl\ndiv bl")
        name = "de"
    elif term == "int3":
        code.append("int3")
        name = "int3"
    elif term == "into":
        code.append("mov al, 0x7f\nadd al, 1\ninto")
        name = "into"
    elif term == "intn":
        n = rng.choice(V86_INT)
        code.append(f"int {n:#x}")
        name = f"int{n:x}"
    else:
        io, size, fn = rng.choice(V86_IO)
        port = rng.choice([0x60, 0x80, 0x7, 0xF8, 0x3F8, 0x1F0, 0x3FF]) if "dx" in io \
            else rng.choice([0x60, 0x80, 0x7, 0xF8])
        bm = rng.choice(["none", "none", "port", "last", "next"])
        last = port + size - 1
        if bm == "port":
            tss[iomap + port // 8] |= 1 << (port % 8)
        elif bm == "last":
            tss[iomap + last // 8] |= 1 << (last % 8)
        elif bm == "next":
            q = last + 1
            tss[iomap + q // 8] |= 1 << (q % 8)
        denied = any(tss[iomap + q // 8] >> (q % 8) & 1 for q in range(port, last + 1))
        code.append(f"mov eax, {rng.getrandbits(32):#x}\n" + fn(port))
        name = f"{io}_{port:x}_bm{bm}"
    # PUSHFD at IOPL 3 stores the image QEMU gets wrong (KD_PUSHFD_VM).
    pushfd = any(k == "pushfd" for k, _ in ops)
    return "\n".join(code), "-".join(k for k, _ in ops) or "none", name, denied, pushfd


def v86_idt(sc, rng, h_ud, h_bp):
    """Ring-0 gates for every event a V86 body raises: #UD's handler is INT3, the others UD2."""
    for v in [0, 3, 4, 6, 13] + V86_INT:
        soft_dpl = 3 if v in (0, 6) or rng.random() < 0.85 else 0
        sc.idt[v] = gate(code_sel(0), h_bp if v == 6 else h_ud, rng.choice([0xE, 0xF]), dpl=soft_dpl)


V86_TAIL = "bits 16\nv86:\n{body}\nbits 32\nh_ud: ud2\nh_bp: int3"


def fam_v86(rng):
    """IRETD at CPL 0 into virtual-8086 mode, a random V86 body (IOPL-sensitive instructions, I/O
    through the bitmap, segment loads, IRET), and an event delivered to the ring-0 handler."""
    for i in range(120):
        iopl = rng.choice([0, 1, 2, 3, 3, 3])
        term = V86_TERMS[i % len(V86_TERMS)]
        sc = Scenario("", "v86", regs=[rng.getrandbits(32) for _ in range(8)])
        code, ops, tname, denied, pushfd = v86_body(rng, sc.tss, IOMAP, term)
        fl = VM | iopl << 12 | 2 | (rng.getrandbits(12) & (ARITH | IF)) | (AC if rng.random() < 0.2 else 0) \
            | (NT if rng.random() < 0.1 else 0) | (VIF | VIP if rng.random() < 0.1 else 0)
        fs, gs = rng.choice([0, 0x350, 0xFFFF]), rng.choice([0, 0x3F0, 0x1234])
        sp = rng.choice([V86_SP, 0xF00, 0x800])
        sc.body = "\n".join(f"push dword {x:#x}" for x in (gs, fs, V86_DS, V86_ES, V86_SS, sp, fl, V86_CS)) \
            + f"\npush dword v86 - {V86_BASE:#x}\niretd"
        sc.tail = V86_TAIL.format(body=code)
        sc.ioi_base = V86_BASE
        h_ud, h_bp = sc.labels("h_ud", "h_bp")
        v86_idt(sc, rng, h_ud, h_bp)
        v86_delivery(sc)
        if denied:
            sc.known = KD_V86_IOBITMAP
        elif pushfd and iopl == 3:
            sc.known = KD_PUSHFD_VM
        sc.name = f"v86_iopl{iopl}_{ops}_{tname}_{i}"
        yield sc
    # IRETD with VM = 1 at CPL 3: a protected-mode return (SDM), V86 entry in QEMU.
    for i in range(2):
        sc = Scenario(f"v86_iretd_vm_cpl3_{i}", "v86", cpl=3, eflags=0x3002 if i else 0x2)
        sc.body = "\n".join(f"push dword {x:#x}" for x in (0, 0, V86_DS, V86_ES, V86_SS, V86_SP, VM | 0x3002, V86_CS)) \
            + f"\npush dword v86 - {V86_BASE:#x}\niretd"
        sc.tail = V86_TAIL.format(body="mov ax, 1\nud2")
        sc.known = KD_IRET_VM_CPL3
        yield sc
