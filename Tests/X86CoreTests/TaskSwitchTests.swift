import Testing
import X86Core

/// A small protected-mode system in memory for task-switch and virtual-8086 tests: a GDT at
/// 0x10000, an IDT at 0x11000, the current task A (busy, TR = 0x18) with its TSS at 0x20000.
///
/// | selector | descriptor |
/// | --- | --- |
/// | 0x08 / 0x10 | flat ring-0 code / data |
/// | 0x18 | task A: 32-bit TSS at 0x20000 (busy), limit 0x67 + an I/O bitmap |
/// | 0x20 | task B: 32-bit TSS at 0x30000, limit 0x67 |
/// | 0x28 | task gate to 0x20 |
/// | 0x30 | task C: 16-bit TSS at 0x31000, limit 0x2B |
/// | 0x38 | task D: 32-bit TSS at 0x32000 whose limit 0x50 is too short |
struct TaskSystem {
    let cpu = CPU(memorySize: 1 << 20)
    static let gdt: UInt32 = 0x10000, idt: UInt32 = 0x11000
    static let tssA: UInt32 = 0x20000, tssB: UInt32 = 0x30000, tssC: UInt32 = 0x31000

    static func segment(base: UInt32, limit: UInt32, access: UInt32, flags: UInt32) -> (UInt32, UInt32) {
        let low = (base << 16) | (limit & 0xFFFF)
        let high = (base & 0xFF00_0000) | (flags << 20) | (limit & 0xF_0000) | (access << 8) | ((base >> 16) & 0xFF)
        return (low, high)
    }

    func put(_ selector: UInt32, _ d: (UInt32, UInt32)) {
        write32(Self.gdt + selector, d.0)
        write32(Self.gdt + selector + 4, d.1)
    }

    func write32(_ a: UInt32, _ v: UInt32) { cpu.memory.write(a, size: 4, value: v) }
    func write16(_ a: UInt32, _ v: UInt32) { cpu.memory.write(a, size: 2, value: v) }
    func read32(_ a: UInt32) -> UInt32 { cpu.memory.read(a, size: 4) }

    init() {
        put(0x08, Self.segment(base: 0, limit: 0xFFFFF, access: 0x9B, flags: 0xC))
        put(0x10, Self.segment(base: 0, limit: 0xFFFFF, access: 0x93, flags: 0xC))
        put(0x18, Self.segment(base: Self.tssA, limit: 0x67 + 0x2001, access: 0x8B, flags: 0))
        put(0x20, Self.segment(base: Self.tssB, limit: 0x67, access: 0x89, flags: 0))
        put(0x28, (0x20 << 16, 0x8500))
        put(0x30, Self.segment(base: Self.tssC, limit: 0x2B, access: 0x81, flags: 0))
        put(0x38, Self.segment(base: 0x32000, limit: 0x50, access: 0x89, flags: 0))
        // Task A: ring-0 stack for interrupts out of V86, I/O bitmap at 0x68 (all ports allowed
        // except 0x71).
        write32(Self.tssA + 4, 0x8000)
        write32(Self.tssA + 8, 0x10)
        write16(Self.tssA + 0x66, 0x68)
        cpu.memory.write8(Self.tssA + 0x68 + (0x71 >> 3), 1 << (0x71 & 7))
        cpu.memory.write8(Self.tssA + 0x68 + 0x2000, 0xFF)
        // Task B starts at 0x3000 on a stack at 0x9000.
        setupTSS32(Self.tssB, eip: 0x3000, esp: 0x9000)
        var st = cpu.state
        st.cr0 = CR0.pe | CR0.et
        st.gdtr = TableRegister(base: Self.gdt, limit: 0x3F)
        st.idtr = TableRegister(base: Self.idt, limit: 0x7FF)
        st.segments[1] = SegmentCache(selector: 0x08, base: 0, limit: 0xFFFF_FFFF, attributes: 0xC09B)
        for seg in [0, 2, 3, 4, 5] {
            st.segments[seg] = SegmentCache(selector: 0x10, base: 0, limit: 0xFFFF_FFFF, attributes: 0xC093)
        }
        st.tr = SegmentCache(selector: 0x18, base: Self.tssA, limit: 0x67 + 0x2001, attributes: 0x8B)
        st.cpl = 0
        st.eip = 0x1000
        st[.esp] = 0x7000
        st.flags = 0x2
        cpu.state = st
    }

    func setupTSS32(_ base: UInt32, eip: UInt32, esp: UInt32, eflags: UInt32 = 0x2) {
        write32(base + 0x20, eip)
        write32(base + 0x24, eflags)
        write32(base + 0x38, esp)
        for (i, sel) in [0x10, 0x08, 0x10, 0x10, 0x10, 0x10].enumerated() { write16(base + 0x48 + UInt32(i * 4), UInt32(sel)) }
    }

    /// An IDT gate: type 0x5 (task), 0xE (32-bit interrupt gate).
    func gate(_ vector: UInt32, selector: UInt32, offset: UInt32, type: UInt32, dpl: UInt32 = 0) {
        write32(Self.idt + vector * 8, (selector << 16) | (offset & 0xFFFF))
        write32(Self.idt + vector * 8 + 4, (offset & 0xFFFF_0000) | 0x8000 | (dpl << 13) | (type << 8))
    }

    func code(_ bytes: [UInt8], at a: UInt32) { cpu.memory.load(bytes: bytes, at: a) }
    func busy(_ selector: UInt32) -> Bool { read32(Self.gdt + selector + 4) & 0x200 != 0 }
}

@Test func jumpToTSSSwitchesTasks() {
    let t = TaskSystem()
    t.code([0xEA, 0, 0, 0, 0, 0x20, 0x00, 0xF4], at: 0x1000)   // jmp 0x20:0
    t.code([0xB8, 0x34, 0x12, 0, 0, 0xF4], at: 0x3000)          // mov eax, 0x1234; hlt
    let exit = t.cpu.run(maxInstructions: 10)
    #expect(exit == .halted)
    let st = t.cpu.state
    #expect(st[.eax] == 0x1234 && st[.esp] == 0x9000)
    #expect(st.tr.selector == 0x20 && st.cr0 & CR0.ts != 0 && st.flags & EFLAGS.nt == 0)
    #expect(!t.busy(0x18) && t.busy(0x20))
    #expect(t.read32(TaskSystem.tssA + 0x20) == 0x1007, "the old task resumes after the JMP")
    #expect(t.cpu.modeCounters.taskSwitches == 1)
}

@Test func callNestsAndIRETReturns() {
    let t = TaskSystem()
    t.code([0x9A, 0, 0, 0, 0, 0x20, 0x00, 0xBB, 0x55, 0, 0, 0, 0xF4], at: 0x1000)  // call 0x20:0; mov ebx, 0x55; hlt
    t.code([0xB8, 0x34, 0x12, 0, 0, 0xCF], at: 0x3000)                          // mov eax, 0x1234; iretd
    let exit = t.cpu.run(maxInstructions: 10)
    #expect(exit == .halted)
    let st = t.cpu.state
    #expect(st[.ebx] == 0x55 && st[.eax] == 0, "task A's registers come back from its TSS")
    #expect(st.tr.selector == 0x18 && t.busy(0x18) && !t.busy(0x20))
    #expect(t.read32(TaskSystem.tssB) & 0xFFFF == 0x18, "back link")
    #expect(t.read32(TaskSystem.tssB + 0x20) == 0x3006)
    #expect(t.read32(TaskSystem.tssB + 0x24) & EFLAGS.nt == 0, "IRET saves the old task with NT clear")
    #expect(t.cpu.modeCounters.taskSwitches == 2)
}

@Test func taskGateInIDTPushesTheErrorCodeOnTheNewStack() {
    let t = TaskSystem()
    t.gate(13, selector: 0x20, offset: 0, type: 0x5)
    t.code([0x66, 0xB8, 0x7B, 0x00, 0x8E, 0xD8, 0xF4], at: 0x1000)  // mov ax, 0x7b; mov ds, ax
    t.code([0x58, 0xF4], at: 0x3000)                                // pop eax; hlt
    let exit = t.cpu.run(maxInstructions: 10)
    #expect(exit == .halted)
    let st = t.cpu.state
    #expect(st[.eax] == 0x78, "#GP(0x78) through a task gate")
    #expect(st.flags & EFLAGS.nt != 0 && st.tr.selector == 0x20)
    #expect(t.read32(TaskSystem.tssA + 0x20) == 0x1004, "the faulting instruction")
}

@Test func taskSwitchFaults() {
    // CALL to the busy current task: #GP(selector); JMP to a TSS with a short limit: #TS.
    for (code, vector, error) in [([0x9A, 0, 0, 0, 0, 0x18, 0x00] as [UInt8], UInt8(13), UInt32(0x18)),
                                  ([0xEA, 0, 0, 0, 0, 0x38, 0x00], 10, 0x38)] {
        let t = TaskSystem()
        t.cpu.exitOnExceptions = 1 << 13 | 1 << 10
        t.code(code, at: 0x1000)
        let exit = t.cpu.run(maxInstructions: 10)
        #expect(exit == .exception(vector: vector, errorCode: error))
        #expect(t.cpu.state.tr.selector == 0x18 && t.busy(0x18) && t.cpu.state.eip == 0x1000)
    }
}

@Test func sixteenBitTSS() {
    let t = TaskSystem()
    let c = TaskSystem.tssC
    t.write16(c + 0x0E, 0x3000); t.write16(c + 0x10, 0x2); t.write16(c + 0x12, 0x1111); t.write16(c + 0x1A, 0x9000)
    for (i, sel) in [0x10, 0x08, 0x10, 0x10].enumerated() { t.write16(c + 0x22 + UInt32(i * 2), UInt32(sel)) }
    t.code([0xEA, 0, 0, 0, 0, 0x30, 0x00], at: 0x1000)
    t.code([0xF4], at: 0x3000)
    #expect(t.cpu.run(maxInstructions: 10) == .halted)
    let st = t.cpu.state
    #expect(st[.eax] == 0xFFFF_1111 && st.segments[4].selector == 0 && st.tr.selector == 0x30)
}

@Test func taskSwitchInterceptExitsBeforeAnyChange() {
    let t = TaskSystem()
    t.cpu.intercepts = [.taskSwitch]
    t.code([0xEA, 0, 0, 0, 0, 0x20, 0x00], at: 0x1000)
    #expect(t.cpu.run(maxInstructions: 10) == .intercepted(.taskSwitch))
    #expect(t.cpu.taskSwitchRequest?.selector == 0x20 && t.cpu.taskSwitchRequest?.source == .jmp)
    #expect(t.cpu.state.tr.selector == 0x18 && t.cpu.state.eip == 0x1000 && t.busy(0x18) && !t.busy(0x20))
}

/// Enters V86 at 0600:0000 (linear 0x6000) by IRETD from ring 0 with `eflags`.
func enterV86(_ t: TaskSystem, eflags: UInt32, v86Code: [UInt8]) {
    t.code(v86Code, at: 0x6000)
    t.code([0xCF], at: 0x1000)
    // EIP, CS, EFLAGS, ESP, SS, ES, DS, FS, GS.
    for (i, v) in ([0, 0x600, eflags, 0xFFE, 0x700, 0x11, 0x22, 0x33, 0x44] as [UInt32]).enumerated() {
        t.write32(0x7000 + UInt32(i * 4), v)
    }
    t.code([0xF4], at: 0x5000)
}

@Test func v86CLIWithIOPL0FaultsToTheMonitorWithTheSegmentsPushed() {
    let t = TaskSystem()
    t.gate(13, selector: 0x08, offset: 0x5000, type: 0xE)
    enterV86(t, eflags: EFLAGS.vm | 0x2, v86Code: [0xB8, 0x34, 0x12, 0xFA])  // mov ax, 0x1234; cli
    #expect(t.cpu.run(maxInstructions: 10) == .halted)
    let st = t.cpu.state
    #expect(st.cpl == 0 && st.flags & EFLAGS.vm == 0 && st[.eax] & 0xFFFF == 0x1234)
    #expect(st[.esp] == 0x8000 - 40)
    let frame = (0..<10).map { t.read32(0x8000 - 40 + UInt32($0 * 4)) }
    // error code, EIP, CS, EFLAGS, ESP, SS, ES, DS, FS, GS
    #expect(Array(frame[0...2]) == [0, 3, 0x600])
    #expect(frame[3] & EFLAGS.vm != 0)
    #expect(Array(frame[4...9]) == [0xFFE, 0x700, 0x11, 0x22, 0x33, 0x44])
    #expect(st.segments[3].selector == 0 && st.segments[0].selector == 0)
    #expect(t.cpu.modeCounters.v86Entries == 1 && t.cpu.modeCounters.v86Exits == 1)
}

@Test func v86INTnAndIOBitmap() {
    // IOPL 3: INT 0x21 reaches the ring-0 handler; IN from a port the bitmap denies is #GP(0).
    let t = TaskSystem()
    t.gate(0x21, selector: 0x08, offset: 0x5000, type: 0xE, dpl: 3)
    enterV86(t, eflags: EFLAGS.vm | EFLAGS.iopl | 0x2, v86Code: [0xFA, 0xE4, 0x70, 0xCD, 0x21])  // cli; in al, 0x70; int 0x21
    t.cpu.exitOnExceptions = 1 << 13
    var exit = t.cpu.run(maxInstructions: 3)
    #expect(exit == .portIO(PortAccess(port: 0x70, size: 1, isIn: true, isString: false, isRep: false, value: 0)))
    t.cpu.completePortIn(value: 0x5A)
    exit = t.cpu.run(maxInstructions: 10)
    #expect(exit == .halted)
    #expect(t.cpu.state[.esp] == 0x8000 - 36 && t.read32(0x8000 - 36) == 5, "INT n: a trap frame without error code")
    let t2 = TaskSystem()
    enterV86(t2, eflags: EFLAGS.vm | EFLAGS.iopl | 0x2, v86Code: [0xE4, 0x71])
    t2.cpu.exitOnExceptions = 1 << 13
    #expect(t2.cpu.run(maxInstructions: 3) == .exception(vector: 13, errorCode: 0))
    #expect(t2.cpu.state.eip == 0 && t2.cpu.state.flags & EFLAGS.vm != 0)
}

@Test func vmeVirtualInterruptFlagAndRedirection() {
    // CR4.VME, IOPL 0: CLI/STI/PUSHF/POPF/IRET work on VIF, INT 0x21 (redirection bit clear)
    // goes to the 8086 program's IVT without leaving V86 mode.
    let t = TaskSystem()
    var st = t.cpu.state
    st.cr4 = CR4.vme
    t.cpu.state = st
    t.cpu.exitOnExceptions = 1 << 13
    t.write32(0x84, 0x0650 << 16)                          // IVT[0x21] = 0650:0000
    t.code([0x9C, 0x5A, 0xCF], at: 0x6500)                 // pushf; pop dx; iret
    enterV86(t, eflags: EFLAGS.vm | EFLAGS.if | EFLAGS.vif | 0x2,
             v86Code: [0xFA, 0x9C, 0x5B, 0xFB, 0x9C, 0x59, 0xCD, 0x21, 0xF4])  // cli; pushf; pop bx; sti; pushf; pop cx; int 0x21; hlt
    #expect(t.cpu.run(maxInstructions: 20) == .exception(vector: 13, errorCode: 0), "HLT in V86")
    let s = t.cpu.state
    #expect(s.eip == 8 && s.flags & EFLAGS.vm != 0)
    #expect(s[.ebx] & 0x3200 == 0x3000, "PUSHF after CLI: IF image = VIF = 0, IOPL image 3")
    #expect(s[.ecx] & 0x200 != 0 && s[.edx] & 0x200 == 0, "VIF cleared by the redirected INT")
    #expect(s.flags & EFLAGS.vif != 0 && s.flags & EFLAGS.if != 0, "IRET restored VIF; IF never changed")
    #expect(s[.esp] & 0xFFFF == 0xFFE)
    // STI with a virtual interrupt pending is #GP(0).
    let t2 = TaskSystem()
    var st2 = t2.cpu.state
    st2.cr4 = CR4.vme
    t2.cpu.state = st2
    t2.cpu.exitOnExceptions = 1 << 13
    enterV86(t2, eflags: EFLAGS.vm | EFLAGS.vip | 0x2, v86Code: [0xFB])
    #expect(t2.cpu.run(maxInstructions: 3) == .exception(vector: 13, errorCode: 0))
}

@Test func gate286PushesAWordFrame() {
    // A 286 interrupt gate (type 6): FLAGS, CS, IP pushed as words, a 16-bit offset, IF cleared
    // (SDM Vol. 3A §6.12.1, Figure 6-4 with 16-bit gates).
    let t = TaskSystem()
    t.gate(0x40, selector: 0x08, offset: 0x5000, type: 0x6)
    var st = t.cpu.state
    st.flags = EFLAGS.if | 0x2
    t.cpu.state = st
    t.code([0xCD, 0x40], at: 0x1000)   // int 0x40
    t.code([0xF4], at: 0x5000)
    #expect(t.cpu.run(maxInstructions: 5) == .halted)
    let s = t.cpu.state
    #expect(s[.esp] == 0x7000 - 6 && s.flags & EFLAGS.if == 0)
    #expect(t.cpu.memory.read(0x7000 - 6, size: 2) == 0x1002, "IP after INT")
    #expect(t.cpu.memory.read(0x7000 - 4, size: 2) == 0x08)
    #expect(t.cpu.memory.read(0x7000 - 2, size: 2) == (EFLAGS.if | 0x2))
}
