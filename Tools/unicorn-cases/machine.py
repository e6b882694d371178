"""The scenario machine model shared by gen.py and families.py: the standard memory layout,
the prologue that builds protected-mode state from memory, and the Unicorn runner."""
import os
import struct
import subprocess
import tempfile

from unicorn import Uc, UcError, UC_ARCH_X86, UC_MODE_32, UC_HOOK_INTR, UC_HOOK_INSN, UC_HOOK_INSN_INVALID, UC_ERR_INSN_INVALID
from unicorn import x86_const as X

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_OUT = os.path.join(ROOT, "Tests/X86CoreTests/Fixtures/unicorn-system.jsonl.gz")

# ---------------------------------------------------------------------------------------------
# Machine layout (physical = linear below 4 MiB: PDE 0 identity-maps it whenever paging is on).
MEM_SIZE = 16 << 20
PSEUDO = 0x0800          # GDTR pseudo-descriptor at 0x800, IDTR at 0x808
CODE = 0x1000            # prologue + body + targets, up to 8 KiB
DATA0, DATA1 = 0x3000, 0x4000
STACK_TOP = {0: 0x8FF0, 1: 0x9FF0, 2: 0xAFF0, 3: 0xBFF0}
GDT, IDT, TSS, LDT = 0x10000, 0x11000, 0x12000, 0x16000
TSS2 = 0x17000           # second TSS for LTR tests
PD, PT0, PT1 = 0x20000, 0x21000, 0x22000
# Unicorn 2.0.1 walks the page tables (permissions, A/D, #PF) but then accesses physical =
# linear (README.md), so every mapping the scenarios use is an identity mapping.
TARGET_PHYS = 0x400000   # frames behind the paging-test window (PDE 1, linear 0x400000)
PSE_PHYS = 0x800000      # frame of the 4 MiB page at linear 0x800000 (PDE 2)
GDT_ENTRIES = 32
IOMAP = 0x68             # TSS I/O-map base; bitmap 0x2000 bytes + 0xFF terminator

# Fixed GDT slots. CS for CPL n = (1+2n)*8|n, data = (2+2n)*8|n.
def code_sel(cpl): return ((1 + 2 * cpl) * 8) | cpl
def data_sel(cpl): return ((2 + 2 * cpl) * 8) | cpl
SEL_TSS, SEL_LDT, SEL_CONF0 = 0x48, 0x50, 0x58
TEST_SLOT = 16           # slots 16.. are per-scenario descriptors (selector 0x80..)

# CPUX86State offsets inside Unicorn 2.0.1's saved context (uc_context_save copies env);
# calibrated by experiment and checked on every run (see README.md).
CTX_SEGS, CTX_LDT, CTX_TR, CTX_CR = 200, 344, 368, 440
CTX_ERROR_CODE, CTX_DR6 = 5368, 5432


def desc(base, limit, typ, s=1, dpl=0, p=1, db=1, g=0, avl=0):
    lo = (limit & 0xFFFF) | ((base & 0xFFFF) << 16)
    hi = ((base >> 16) & 0xFF) | ((typ & 0xF) << 8) | (s << 12) | (dpl << 13) | (p << 15) \
        | (((limit >> 16) & 0xF) << 16) | (avl << 20) | (db << 22) | (g << 23) | (base & 0xFF000000)
    return struct.pack('<II', lo, hi)


def gate(sel, offset, typ, dpl=0, p=1, params=0):
    lo = (offset & 0xFFFF) | (sel << 16)
    hi = (params & 0x1F) | (typ << 8) | (dpl << 13) | (p << 15) | (offset & 0xFFFF0000)
    return struct.pack('<II', lo, hi)


# Pre-accessed: QEMU sets the A bit only for MOV/POP Sreg loads, not when a far JMP/CALL/RET/IRET
# or a stack switch loads CS or SS (SDM Vol. 3A §3.4.5.1 says every load sets it).
FLAT_CODE = lambda dpl, typ=0xB: desc(0, 0xFFFFF, typ, dpl=dpl, g=1)
FLAT_DATA = lambda dpl, typ=0x3: desc(0, 0xFFFFF, typ, dpl=dpl, g=1)


_asm_cache = {}


def assemble(src):
    if src in _asm_cache:
        return _asm_cache[src]
    with tempfile.TemporaryDirectory() as d:
        p, o, l = os.path.join(d, 'a.asm'), os.path.join(d, 'a.bin'), os.path.join(d, 'a.map')
        with open(p, 'w') as f:
            f.write(src)
        r = subprocess.run(['nasm', '-f', 'bin', '-o', o, p], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"nasm failed: {r.stderr}\n{src}")
        with open(o, 'rb') as f:
            out = f.read()
    _asm_cache[src] = out
    return out


class Scenario:
    """One scenario: a memory image built from a standard layout plus per-scenario edits."""

    def __init__(self, name, family, cpl=0, eflags=0x2, paging=False, cr0_extra=0, cr4=0,
                 regs=None, ldt=True):
        self.name, self.family = name, family
        self.cpl, self.eflags, self.paging = cpl, eflags, paging
        self.cr0 = 0x11 | cr0_extra | (0x80000000 if paging else 0)
        self.cr4 = cr4
        self.regs = regs if regs is not None else [0] * 8
        self.mem = bytearray(0x60000)       # image below 0x60000; PSE frame handled separately
        self.extra = {}                      # addr -> bytes outside self.mem
        self.gdt = [bytes(8)] * GDT_ENTRIES
        self.gdt[1], self.gdt[2] = FLAT_CODE(0), FLAT_DATA(0)
        self.gdt[3], self.gdt[4] = FLAT_CODE(1), FLAT_DATA(1)
        self.gdt[5], self.gdt[6] = FLAT_CODE(2), FLAT_DATA(2)
        self.gdt[7], self.gdt[8] = FLAT_CODE(3), FLAT_DATA(3)
        self.gdt[9] = desc(TSS, IOMAP + 0x2000, 0x9, s=0, db=0)
        self.gdt[10] = desc(LDT, 8 * 16 - 1, 0x2, s=0, db=0) if ldt else bytes(8)
        self.gdt[11] = FLAT_CODE(0, 0xF)
        self.gdt_limit = GDT_ENTRIES * 8 - 1
        self.ldt = [bytes(8)] * 16
        self.idt = [bytes(8)] * 256
        self.idt_limit = 256 * 8 - 1
        self.use_ldt = ldt
        self.body = ""
        self.tail = ""                        # code placed after `done` (call/jump targets)
        self.known = None
        self.reg_mask = None
        self.eflags_mask = None
        self.int_handler = None               # INT n scenarios: the gate's handler (see README.md)
        self.post = None                      # post(rec): may set rec['knownDifference']
        self.pages_extra = []
        self.ioi_base = 0                     # CS base under which the `ioi` label is an EIP (V86)
        # Events Unicorn does not deliver (tasking.py): resume(uc, ev) may redirect the run once an
        # event stopped it (returns the address to go on from, or None); finish(uc, ev, exp) may
        # complete a delivery the SDM's way before the memory is compared.
        self.resume = None
        self.finish = None
        self.deliver = None                   # vectors X86Core delivers instead of exiting on
        self.selectors_only = False           # fault after a task switch's commit point
        # TSS: ring stacks; I/O bitmap all zeros (all ports allowed) unless edited.
        self.tss = bytearray(IOMAP + 0x2001)
        struct.pack_into('<IIIIIII', self.tss, 0, 0, STACK_TOP[0], data_sel(0), STACK_TOP[1],
                         data_sel(1), STACK_TOP[2], data_sel(2))
        struct.pack_into('<HH', self.tss, 0x64, 0, IOMAP)
        self.tss[IOMAP + 0x2000] = 0xFF
        # Paging: PDE 0 -> PT0 identity (U/S=1, R/W=1, A=1); PDE 1 -> PT1 (test window).
        self.pd = [0] * 1024
        self.pt0 = [(i << 12) | 0x27 for i in range(1024)]
        self.pt0[0] = 0                       # page 0 not present (null-pointer catch)
        self.pt1 = [((TARGET_PHYS >> 12) + i) << 12 | 0x27 for i in range(16)] + [0] * 1008
        self.pd[0] = PT0 | 0x27
        self.pd[1] = PT1 | 0x27

    # -- image --------------------------------------------------------------------------------
    def prologue(self):
        c = self.cpl
        lines = [
            "bits 32", f"org {CODE:#x}",
            f"lgdt [{PSEUDO:#x}]", f"lidt [{PSEUDO + 8:#x}]",
            f"jmp {code_sel(0):#x}:.p1", ".p1:",
            f"mov ax, {data_sel(0):#x}", "mov ds, ax", "mov es, ax", "mov fs, ax", "mov gs, ax",
            "mov ss, ax", f"mov esp, {STACK_TOP[0]:#x}",
            f"mov ax, {SEL_TSS:#x}", "ltr ax",
        ]
        if self.use_ldt:
            lines += [f"mov ax, {SEL_LDT:#x}", "lldt ax"]
        lines += [f"mov eax, {self.cr4:#x}", "mov cr4, eax",
                  f"mov eax, {PD:#x}", "mov cr3, eax",
                  f"mov eax, {self.cr0:#x}", "mov cr0, eax", "jmp .p2", ".p2:"]
        if c == 0:
            lines += [f"push dword {self.eflags:#x}", "popfd"]
        else:
            lines += [f"push dword {data_sel(c):#x}", f"push dword {STACK_TOP[c]:#x}",
                      f"push dword {self.eflags:#x}", f"push dword {code_sel(c):#x}",
                      "push dword .p3", "iretd", ".p3:",
                      f"mov ax, {data_sel(c):#x}", "mov ds, ax", "mov es, ax", "mov fs, ax", "mov gs, ax"]
        for i, r in enumerate(["eax", "ecx", "edx", "ebx", None, "ebp", "esi", "edi"]):
            if r:
                lines.append(f"mov {r}, {self.regs[i]:#x}")
        lines.append("body:")
        return "\n".join(lines)

    def source(self):
        return self.prologue() + "\n" + self.body + "\ndone: ud2\n" + self.tail + "\n"

    def build(self):
        code = assemble(self.source() + "\ndd done\n")
        self.done = struct.unpack_from('<I', code, len(code) - 4)[0]
        code = code[:-4]
        assert len(code) < 0x2000, self.name
        m = self.mem
        m[CODE:CODE + len(code)] = code
        struct.pack_into('<HI', m, PSEUDO, self.gdt_limit, GDT)
        struct.pack_into('<HI', m, PSEUDO + 8, self.idt_limit, IDT)
        for i, d in enumerate(self.gdt):
            m[GDT + 8 * i:GDT + 8 * i + 8] = d
        for i, d in enumerate(self.ldt):
            m[LDT + 8 * i:LDT + 8 * i + 8] = d
        for i, d in enumerate(self.idt):
            m[IDT + 8 * i:IDT + 8 * i + 8] = d
        m[TSS:TSS + len(self.tss)] = self.tss
        for i in range(1024):
            struct.pack_into('<I', m, PD + 4 * i, self.pd[i])
            struct.pack_into('<I', m, PT0 + 4 * i, self.pt0[i])
            struct.pack_into('<I', m, PT1 + 4 * i, self.pt1[i])
        for i in range(16):
            # recognisable contents in the paging-test frames
            self.extra.setdefault(TARGET_PHYS + i * 0x1000, struct.pack('<I', 0xA0000000 | i))
        struct.pack_into('<II', m, DATA0, 0x11223344, 0x55667788)
        self.extra[PSE_PHYS] = struct.pack('<I', 0xC0DE4000)
        self.code_len = len(code)
        return code

    def pages(self):
        ps = set(range(0, 0x60000, 0x1000))
        ps.update(range(TARGET_PHYS, TARGET_PHYS + 0x10000, 0x1000))
        ps.update(a & ~0xFFF for a in self.extra)
        ps.update(self.pages_extra)
        return sorted(ps)

    def label(self, name):
        """Address of a label in the assembled code (assembles a probe)."""
        return self.labels(name)[0]

    def labels(self, *names):
        """Addresses of several labels (one probe assembly)."""
        src = self.source() + "\n" + "".join(f"dd {n}\n" for n in names)
        b = assemble(src)
        k = len(names)
        return list(struct.unpack_from(f'<{k}I', b, len(b) - 4 * k))


# ---------------------------------------------------------------------------------------------
# Running a scenario under Unicorn

def runs(data):
    """Non-zero runs of a byte string as [offset, hex] pairs (zeros are the default)."""
    out, i, n = [], 0, len(data)
    while i < n:
        if data[i] == 0:
            i += 1
            continue
        j = i
        zeros = 0
        while j < n and zeros < 8:
            zeros = zeros + 1 if data[j] == 0 else 0
            j += 1
        end = j - zeros
        out.append([i, data[i:end].hex()])
        i = j
    return out


def diff_runs(before, after, base):
    out, i, n = [], 0, len(before)
    while i < n:
        if before[i] == after[i]:
            i += 1
            continue
        j = i
        while j < n and before[j] != after[j]:
            j += 1
        out.append([base + i, after[i:j].hex()])
        i = j
    return out


def run_unicorn(sc):
    code = sc.build()
    uc = Uc(UC_ARCH_X86, UC_MODE_32)
    uc.mem_map(0, MEM_SIZE)
    uc.mem_write(0, bytes(sc.mem))
    for a, b in sc.extra.items():
        uc.mem_write(a, b)
    pages = sc.pages()
    before = {p: bytes(uc.mem_read(p, 0x1000)) for p in pages}
    ev = {}

    def on_intr(uc, intno, _):
        ctx = bytes(uc.context_save())
        ev['vector'] = intno
        ev['eip'] = uc.reg_read(X.UC_X86_REG_EIP)
        ev['cr2'] = uc.reg_read(X.UC_X86_REG_CR2)
        ev['error'], is_int = struct.unpack_from('<Ii', ctx, CTX_ERROR_CODE)
        ev['isInt'] = is_int != 0
        uc.emu_stop()

    def on_invalid(uc, _):
        ev['cr2'] = uc.reg_read(X.UC_X86_REG_CR2)
        return False

    def on_in(uc, port, size, _):
        ev.setdefault('cr2', uc.reg_read(X.UC_X86_REG_CR2))
        ev.setdefault('io', {'port': port, 'size': size, 'isIn': True, 'regs': snap_regs(uc)})
        uc.emu_stop()
        return 0

    def on_out(uc, port, size, value, _):
        ev.setdefault('cr2', uc.reg_read(X.UC_X86_REG_CR2))
        ev.setdefault('io', {'port': port, 'size': size, 'isIn': False, 'value': value,
                             'regs': snap_regs(uc)})
        uc.emu_stop()

    uc.hook_add(UC_HOOK_INTR, on_intr)
    uc.hook_add(UC_HOOK_INSN_INVALID, on_invalid)
    uc.hook_add(UC_HOOK_INSN, on_in, None, 1, 0, X.UC_X86_INS_IN)
    uc.hook_add(UC_HOOK_INSN, on_out, None, 1, 0, X.UC_X86_INS_OUT)
    begin = CODE
    for _ in range(4):
        try:
            uc.emu_start(begin, 0xFFFFFFFF, timeout=2_000_000, count=5000)
        except UcError as e:
            if e.errno != UC_ERR_INSN_INVALID:
                raise RuntimeError(f"{sc.name}: {e}")
            ev['vector'] = 6
            ev['eip'] = uc.reg_read(X.UC_X86_REG_EIP)
        if 'vector' not in ev and 'io' not in ev:
            raise RuntimeError(f"{sc.name}: no stop event (instruction limit?)")
        nxt = sc.resume(uc, ev) if sc.resume and 'vector' in ev else None
        if nxt is None:
            break
        # Leaving emu_start clobbered CR2 (see README.md): put back the value the hook read.
        uc.reg_write(X.UC_X86_REG_CR2, ev['cr2'])
        ev.clear()
        begin = nxt
    ctx = bytes(uc.context_save())
    # Layout check: DR6's fixed-1 bits and DR7's bit 10 must be where the calibration found them.
    dr6, dr7 = struct.unpack_from('<QQ', ctx, CTX_DR6)
    assert dr6 & 0xFFFF0FF0 == 0xFFFF0FF0 and dr7 & 0x400, (sc.name, hex(dr6), hex(dr7))
    segs = []
    for i, r in enumerate([X.UC_X86_REG_ES, X.UC_X86_REG_CS, X.UC_X86_REG_SS, X.UC_X86_REG_DS,
                           X.UC_X86_REG_FS, X.UC_X86_REG_GS]):
        sel, base, limit, flags = struct.unpack_from('<IxxxxQII', ctx, CTX_SEGS + 24 * i)
        assert sel == uc.reg_read(r), (sc.name, i, sel)
        segs.append([sel, base & 0xFFFFFFFF, limit, (flags >> 8) & 0xF0FF])

    def sysseg(off):
        sel, base, limit, flags = struct.unpack_from('<IxxxxQII', ctx, off)
        return [sel, base & 0xFFFFFFFF, limit, (flags >> 8) & 0xF0FF]
    # Once emu_start has returned CR2 reads 0xFFFFFFFE (Unicorn's exit path clobbers it), so it
    # is read inside the hook that stopped the run.
    crs = [uc.reg_read(r) for r in (X.UC_X86_REG_CR0, X.UC_X86_REG_CR1, X.UC_X86_REG_CR2,
                                     X.UC_X86_REG_CR3, X.UC_X86_REG_CR4)]
    assert 'cr2' in ev, sc.name
    crs[2] = ev['cr2']
    assert crs[0] == struct.unpack_from('<Q', ctx, CTX_CR)[0]
    regs = [uc.reg_read(r) for r in GPRS]
    eip = uc.reg_read(X.UC_X86_REG_EIP)
    tr = sysseg(CTX_TR)
    if tr[0] & 0xFFFC and tr[3] & 0x1F in (0x01, 0x09):
        # QEMU's LTR marks the descriptor in memory busy but caches the pre-LTR type; the SDM
        # (Vol. 3A §7.2.4, LTR) and VMX guest-state rules have TR's type busy: record that.
        tr[3] |= 0x2
    exp = {
        'regs': regs, 'eip': eip, 'eflags': uc.reg_read(X.UC_X86_REG_EFLAGS),
        'segs': segs, 'ldtr': sysseg(CTX_LDT), 'tr': tr,
        'cr0': crs[0], 'cr2': crs[2], 'cr3': crs[3], 'cr4': crs[4],
    }
    if 'io' in ev:
        io = ev['io']
        exp['regs'] = io.pop('regs')
        exp['io'] = io
        exp['eip'] = sc.label('ioi') - sc.ioi_base   # the I/O instruction: it has not completed
        exp['exception'] = None
    else:
        v = ev['vector']
        # Software INT n pushes no error code; Unicorn's error_code field is stale then.
        has_err = v in (8, 10, 11, 12, 13, 14, 17) and not ev.get('isInt')
        exp['exception'] = {'vector': v, 'errorCode': ev['error'] if has_err else None}
    if sc.finish:
        sc.finish(uc, ev, exp)
    mem = []
    for p in pages:
        after = bytes(uc.mem_read(p, 0x1000))
        mem += diff_runs(before[p], after, p)
    exp['memory'] = mem
    done = sc.done
    rec = {
        'name': sc.name, 'family': sc.family,
        'body': sc.body.strip(),
        'image': diff_runs(base_image(), bytes(sc.mem), 0) + [[a, b.hex()] for a, b in sorted(sc.extra.items())],
        'entry': CODE, 'done': done,
        'expect': exp,
    }
    if pages != DEFAULT_PAGES:
        rec['pages'] = pages              # else the header's defaultPages
    if sc.reg_mask:
        rec['regMask'] = sc.reg_mask
    if sc.int_handler is not None:
        rec['intHandler'] = sc.int_handler
    if sc.eflags_mask is not None:
        rec['eflagsMask'] = sc.eflags_mask
    if sc.deliver:
        rec['deliver'] = sc.deliver
    if sc.selectors_only:
        rec['selectorsOnly'] = True
    if 'raised' in exp:
        rec['raised'] = exp.pop('raised')
    if sc.post:
        sc.post(rec)
    if sc.known:
        rec['knownDifference'] = sc.known
    return rec


_base = []


def base_image():
    """The standard layout with an empty body: the fixture's first line, which each scenario's
    `image` edits (keeps the page tables and descriptor tables out of every line)."""
    if not _base:
        sc = Scenario("base", "base")
        sc.build()
        _base.append(bytes(sc.mem))
    return _base[0]


GPRS = [X.UC_X86_REG_EAX, X.UC_X86_REG_ECX, X.UC_X86_REG_EDX, X.UC_X86_REG_EBX,
        X.UC_X86_REG_ESP, X.UC_X86_REG_EBP, X.UC_X86_REG_ESI, X.UC_X86_REG_EDI]


def snap_regs(uc):
    return [uc.reg_read(r) for r in GPRS]




def _default_pages():
    sc = Scenario("pages", "pages")
    sc.build()
    return sc.pages()


DEFAULT_PAGES = _default_pages()
