"""Events Unicorn 2 does not deliver, completed by the generator (Unicorn never delivers through
the IDT: README.md). Used by the `v86` and `task` families (v86.py, tasks.py).

- An exception or INT n raised in virtual-8086 mode goes to a ring-0 handler through an interrupt or
  trap gate. Unicorn stops with the state at the event; `v86_delivery` then pushes the frame of SDM
  Vol. 3A §20.3.1.1 / Figure 20-4 (GS, FS, DS, ES, SS, ESP, EFLAGS, CS, EIP, error code) on the
  ring-0 stack the current TSS names, nulls DS/ES/FS/GS, clears VM, TF, NT, RF (and IF through an
  interrupt gate), and records the state at the handler's first instruction. A software INT n/INT3/
  INTO whose gate has DPL < 3 becomes #GP(vector * 8 + 2) first (§6.12.1.1).
- An event through a task gate in the IDT is the task switch a CALL makes (§6.12.2, §7.3: back link,
  busy bit, NT) plus the error code on the new task's stack. `idt_task_gate` has Unicorn make the
  switch itself: it writes a far CALL through a GDT task gate (to the same TSS, selector SEL_STUB)
  into the seven bytes that end where the saved EIP must point, resumes there, and pushes the error
  code before the new task's first instruction as QEMU's do_interrupt_protected does; the seven bytes
  are restored before memory is compared.

In both, an event of the fault class gets RF = 1 in the EFLAGS image it saves (SDM Vol. 3A §17.3.1.1:
"for any fault-class exception except a debug exception generated in response to an instruction
breakpoint, the value pushed for RF is 1"; QEMU pushes RF as it is, so the frame is the SDM's).
"""
import struct

from unicorn import UC_HOOK_CODE
from unicorn import x86_const as X

from machine import TSS, GDT, IDT, PT0, CTX_SEGS

TF, IF, NT, RF, VM, AC, VIF, VIP, ID = 0x100, 0x200, 0x4000, 0x10000, 0x20000, 0x40000, 0x80000, 0x100000, 0x200000
ARITH = 0x8D5
FAULT_VECTORS = {0, 5, 6, 7, 10, 11, 12, 13, 14, 16, 17, 19}
ERROR_CODE_VECTORS = {8, 10, 11, 12, 13, 14, 17}
SEL_STUB = 0xA0           # GDT task gate (DPL 3) the replayed IDT task-gate delivery calls through


def u32(uc, a):
    return struct.unpack('<I', bytes(uc.mem_read(a, 4)))[0]


def u16(uc, a):
    return struct.unpack('<H', bytes(uc.mem_read(a, 2)))[0]


def gdt_cache(uc, sel):
    """A GDT descriptor as the fixture records a segment register: [selector, base, limit, attributes]."""
    lo, hi = struct.unpack('<II', bytes(uc.mem_read(GDT + (sel & ~7), 8)))
    base = (lo >> 16) | ((hi & 0xFF) << 16) | (hi & 0xFF000000)
    limit = (lo & 0xFFFF) | (hi & 0xF0000)
    if hi & (1 << 23):
        limit = (limit << 12) | 0xFFF
    return [sel, base, limit, (hi >> 8) & 0xF0FF]


def dirty(uc, exp, linear):
    """A write the generator makes for the CPU under paging sets the PTE's A and D flags, as the
    CPU's own write would (SDM Vol. 3A §4.8); the scenarios' stacks lie in PT0's identity map."""
    if exp['cr0'] & 0x80000000:
        pte = PT0 + (linear >> 12) * 4
        uc.mem_write(pte, struct.pack('<I', u32(uc, pte) | 0x60))


def v86_delivery(sc):
    """finish(): an event raised in virtual-8086 mode delivered to its ring-0 handler (module doc)."""
    def finish(uc, ev, exp):
        ex = exp['exception']
        if ex is None or not exp['eflags'] & VM:
            return
        v, err, eip = ex['vector'], ex['errorCode'], exp['eip']
        soft = bool(ev.get('isInt')) and v >= 3
        exp['raised'] = {'vector': v, 'errorCode': err, 'eip': eip}
        e1, e2 = struct.unpack('<II', bytes(uc.mem_read(IDT + 8 * v, 8)))
        if soft and (e2 >> 13) & 3 < 3:
            # SDM Vol. 3A §6.12.1.1: a gate DPL below CPL 3 is #GP(vector * 8 + 2), a fault of the
            # INT instruction (INT3/INTO are one byte, INT n two). Unicorn never checks the gate.
            eip -= 1 if v in (3, 4) else 2
            v, err, soft = 13, v * 8 + 2, False
            e1, e2 = struct.unpack('<II', bytes(uc.mem_read(IDT + 8 * v, 8)))
        typ = (e2 >> 8) & 0x1F
        assert typ in (0xE, 0xF), (sc.name, v, typ)
        sel, handler = e1 >> 16, (e1 & 0xFFFF) | (e2 & 0xFFFF0000)
        has_err = not soft and v in ERROR_CODE_VECTORS
        tr_base = exp['tr'][1]
        esp0, ss0 = u32(uc, tr_base + 4), u16(uc, tr_base + 8)
        ss = gdt_cache(uc, ss0)
        flags = exp['eflags']
        image = flags | (RF if not soft and v in FAULT_VECTORS else 0)
        segs = exp['segs']                     # ES CS SS DS FS GS
        frame = [segs[5][0], segs[4][0], segs[3][0], segs[0][0], segs[2][0], exp['regs'][4], image,
                 segs[1][0], eip] + ([err] if has_err else [])
        esp = esp0
        for val in frame:
            esp -= 4
            uc.mem_write(ss[1] + esp, struct.pack('<I', val))
            dirty(uc, exp, ss[1] + esp)
        exp['regs'][4] = esp
        exp['eflags'] = flags & ~(TF | VM | RF | NT | (IF if typ == 0xE else 0))
        null = [0, 0, 0, 0]
        exp['segs'] = [null, gdt_cache(uc, sel), ss, null, null, null]
        # The handler is UD2, or INT3 where #UD itself is the delivered event.
        if bytes(uc.mem_read(handler, 1)) == b'\xcc':
            exp['eip'], exp['exception'] = handler + 1, {'vector': 3, 'errorCode': None}
        else:
            exp['eip'], exp['exception'] = handler, {'vector': 6, 'errorCode': None}
        # The raised vector too: X86Core exits on INT3/INTO before it looks at the gate.
        sc.deliver = sorted({exp['raised']['vector'], v})
    sc.finish = finish


def idt_task_gate(sc, vectors, old_tss=TSS):
    """resume()/finish(): an event in `vectors` through its IDT task gate, switched by Unicorn (module doc)."""
    st = {}

    def resume(uc, ev):
        v = ev['vector']
        if st or v not in vectors:
            return None
        soft = bool(ev.get('isInt'))
        err = ev['error'] if not soft and v in ERROR_CODE_VECTORS else None
        at = ev['eip'] - 7
        st.update(at=at, orig=bytes(uc.mem_read(at, 7)), vector=v, soft=soft, err=err, eip=ev['eip'])
        tss_sel = u32(uc, IDT + 8 * v) >> 16
        uc.mem_write(at, b'\x9a' + struct.pack('<IH', 0, SEL_STUB))
        uc.ctl_flush_tb()
        if err is not None:
            tss = gdt_cache(uc, tss_sel)
            big = tss[3] & 0x8
            entry = u32(uc, tss[1] + 0x20) if big else u16(uc, tss[1] + 0x0E)

            def push(uc, _address, _size, _):
                if st.get('pushed'):
                    return
                st['pushed'] = True
                ctx = bytes(uc.context_save())
                _, ss_base, _, ss_flags = struct.unpack_from('<IxxxxQII', ctx, CTX_SEGS + 24 * 2)
                mask = 0xFFFFFFFF if ss_flags & (1 << 22) else 0xFFFF
                esp = uc.reg_read(X.UC_X86_REG_ESP)
                new = (esp - (4 if big else 2)) & mask
                uc.mem_write((ss_base + new) & 0xFFFFFFFF, struct.pack('<I' if big else '<H', err))
                st['pushed_at'] = (ss_base + new) & 0xFFFFFFFF
                uc.reg_write(X.UC_X86_REG_ESP, (esp & ~mask) | new)
            uc.hook_add(UC_HOOK_CODE, push, None, entry, entry)
        return at

    def finish(uc, ev, exp):
        if not st:
            return
        uc.mem_write(st['at'], st['orig'])
        if 'pushed_at' in st:
            dirty(uc, exp, st['pushed_at'])
        if not st['soft'] and st['vector'] in FAULT_VECTORS:
            uc.mem_write(old_tss + 0x24, struct.pack('<I', u32(uc, old_tss + 0x24) | RF))
        exp['raised'] = {'vector': st['vector'], 'errorCode': st['err'], 'eip': st['eip']}
        sc.deliver = [st['vector']]
    sc.resume, sc.finish = resume, finish
