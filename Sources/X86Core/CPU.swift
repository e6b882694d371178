import X86Decode

/// The hardware: one i686 CPU in protected mode, its MMU and soft TLB, and a decoded-instruction
/// cache, over a `PhysicalMemory`.
///
/// `run` executes until an event the owner must handle and returns it as an `ExitReason`. The CPU
/// knows nothing of VMMs or devices: port I/O, HLT and intercepted instructions leave the loop,
/// and the owner completes them (`completePortIn`, `skipInstruction`…) before running again.
///
/// Hot-path data is reached through `let` pointers allocated once, so the loop performs no
/// allocation, reference counting or dynamic exclusivity checks (see docs/interpreter.md).
public final class CPU {
    public let memory: PhysicalMemory
    /// The architectural state. Owners may read and write it between runs; after changing
    /// segments, CR0/CR3/CR4 or paging structures directly, call `flushTLB()`.
    public let statePointer: UnsafeMutablePointer<CPUState>
    let s: UnsafeMutablePointer<CPUState>
    let gpr: UnsafeMutablePointer<UInt32>
    let ram: UnsafeMutableRawPointer
    let ramSize: UInt32
    let tlbSlots: UnsafeMutablePointer<TLBEntry>
    let cacheEntries: UnsafeMutablePointer<CachedInstruction>
    let decoder = Decoder()
    /// Holds an instruction fetched from MMIO (never cached) while it executes.
    let scratchInstruction: UnsafeMutablePointer<DecodedInstruction>
    /// Instructions in the last 15 bytes of a page, which the decoded cache cannot hold (its byte
    /// compare reads 16 bytes of one page): see CPU+CrossingFetch.swift.
    let crossing: UnsafeMutablePointer<CrossingInstruction>
    let crossingDecoded: UnsafeMutablePointer<DecodedInstruction>
    var tlb: SoftTLB
    let cache: DecodedCache
    /// The block engine's directory and ops, its counters, and the write tracking it shares with
    /// `memory` and the TLB (CPU+Blocks.swift, CodePages.swift).
    let blocks: BlockCache
    let blockCounters: UnsafeMutablePointer<BlockStats>
    /// `SIMDRowClass.table`, read once here: a static with an initializer costs a `swift_once`
    /// check on every access, which showed in SSE loops.
    let simdRowClasses: UnsafeMutablePointer<UInt8> = SIMDRowClass.table
    /// `CPU.x87ShapeTable`, likewise.
    let x87Shapes: UnsafeMutablePointer<UInt8> = CPU.x87ShapeTable
    let blockChain: UnsafeMutablePointer<BlockChain>
    let codeStamps: UnsafeMutablePointer<UInt32>
    let blockBreak: UnsafeMutablePointer<UInt8>
    /// The block op that raised the fault `handle` is looking at (its exit instruction).
    var blockFaultOp: UnsafePointer<DecodedInstruction>? = nil
    /// Which engine runs code while nothing needs attention. Both give the same results, counts
    /// and traces; `blocks` is faster.
    public var engine: ExecutionEngine = .blocks

    /// Vectors (bit n = vector n) that end `run` with `.exception` instead of being delivered.
    public var exitOnExceptions: UInt32 = 0
    /// Instructions that end `run` with `.intercepted` before they execute.
    public var intercepts: Intercept = []
    /// An external interrupt is pending (the owner's interrupt controller says so). When IF = 1
    /// and no interrupt shadow is active, `run` returns `.interruptWindow`. While IF = 0 it costs
    /// nothing: every instruction that can set IF (STI, POPF, IRET) re-evaluates `attention`.
    /// FERR#: called with true when a waiting x87 instruction meets a pending unmasked
    /// exception while CR0.NE = 0, and with false when the error clears (the PC routes it to
    /// IRQ13). Off the hot loop.
    public var numericErrorSignal: ((Bool) -> Void)? = nil
    /// x87/MMX/SSE instructions run (`--stats`).
    public internal(set) var fpuCounters = FPUCounters()
    /// Mode switches and task switches (`--stats`).
    public internal(set) var modeCounters = ModeCounters()
    /// The task switch behind the last `.intercepted(.taskSwitch)` exit.
    public internal(set) var taskSwitchRequest: TaskSwitchRequest? = nil
    /// Called at a task switch's commit point when set, with the new TSS's CR3 (32-bit TSS with
    /// paging on; nil otherwise): the owner (the VMM, which owns CR0 and CR3) records CR0.TS and
    /// loads CR3 itself. Unset, the CPU loads CR3 as MOV CR3 does.
    public var taskSwitchHook: ((_ newCR3: UInt32?) -> Void)? = nil
    /// The new task's TSS had its T bit set: #DB (DR6.BT) before its first instruction.
    var taskTrapPending = false
    /// A waiting x87 instruction froze on a pending error (CR0.NE = 0): the halt exit leaves EIP
    /// at it and does not count it as retired.
    var frozenOnNumericError = false
    public var interruptRequested = false {
        didSet { if interruptRequested != oldValue { updateAttention() } }
    }
    /// The NMI input is latched: an NMI waits for the CPU (IF does not hold it; NMI blocking and
    /// a MOV SS/STI shadow do). The owner sets it from its interrupt controller; at the first
    /// boundary where it can be taken the CPU exits with `.interruptWindow` and the owner calls
    /// `deliverNMI` (an NMI is taken before a maskable interrupt, SDM Vol. 3A §6.9).
    public var nmiRequested = false {
        didSet { if nmiRequested != oldValue { updateAttention() } }
    }
    /// An NMI could be taken at this boundary: requested, not blocked, no shadow.
    public var nmiDeliverable: Bool {
        nmiRequested && !s.pointee.nmiBlocked && !s.pointee.interruptShadow
    }
    /// The last port access that left the loop, until completed.
    public internal(set) var pendingPort: PortAccess? = nil
    var pendingPortInstruction = DecodedInstruction()
    var pendingExit: ExitReason = .instructionLimit
    /// Exception being delivered (for the double-fault rules); 0xFF = none.
    var deliveringVector: UInt8 = 0xFF
    /// What the last exception chain looked like (for the triple-fault message).
    public internal(set) var exceptionChain: [(vector: UInt8, errorCode: UInt32?, eip: UInt32)] = []
    /// Set when something needs the per-instruction slow path (TF, RF, breakpoints, shadows).
    /// Setting it also stops a running block after the current instruction.
    var attention = false {
        didSet { if attention { blockBreak.pointee = 1 } }
    }
    /// The instruction an `.intercepted`, `.portIO` or `.halted` exit stopped at (see CPU+Owner).
    let exitInstructionPointer: UnsafeMutablePointer<DecodedInstruction>
    /// CR0/CR4 guest/host masks and read shadows (SDM Vol. 3C §24.6.6): MOV from CR0/CR4 and
    /// SMSW read masked bits from the shadow, so a VMM can run the guest with real control
    /// register bits that differ from the ones the guest wrote. All zero on bare hardware.
    public var cr0GuestHostMask: UInt32 = 0
    public var cr0ReadShadow: UInt32 = 0
    public var cr4GuestHostMask: UInt32 = 0
    public var cr4ReadShadow: UInt32 = 0
    /// The shadow MMU's hook: called when a walk of `pagingRoot` fails (slow path only).
    public var pageFaultHandler: ((_ linear: UInt32, _ errorCode: UInt32) -> PageFaultVerdict)? = nil
    /// Set while `writeLinearSlow` translates a store that lies in one page: the only time the
    /// page-fault handler may answer `.emulateStore`.
    public internal(set) var translatingStore = false
    /// A `.emulateStore` verdict was given; the store is done, then the handler is told.
    var emulatedStorePending = false
    /// Called after a store the page-fault handler chose to emulate: its guest-physical address
    /// and size (the shadow MMU brings the shadow entries built from it up to date).
    public var emulatedStoreHandler: ((_ physical: UInt32, _ size: Int) -> Void)? = nil
    /// Called once at the next instruction boundary after `requestBoundaryCallback()` (the shadow
    /// MMU re-protects a page-table page its guest just wrote).
    public var boundaryCallback: (() -> Void)? = nil
    var boundaryCallbackRequested = false
    /// The linear address of the last page fault (the exit qualification of a #PF exit).
    public internal(set) var pageFaultAddress: UInt32 = 0
    /// A single-step trap owed by an instruction the owner completed (port I/O, emulation).
    var ownerCompletedTrap = false
    /// The CPU model has UMIP (CR4 bit 11, CPUID leaf 7): off for the i686 model; a VMM that
    /// shows the post-2017 fix for the descriptor-table holes (`x86v audit --umip`) turns it on.
    public var umipSupported = false
    /// The machine wired a local APIC to this CPU: CPUID.1:EDX.APIC (bit 9) reads 1 while
    /// IA32_APIC_BASE's global enable (bit 11) is set (SDM Vol. 3A §11.4.3).
    public var localAPICPresent = false
    /// REP MOVS/STOS iterations done a page at a time (`repBulk`; tests and `--stats` curiosity).
    public internal(set) var bulkStringIterations: UInt64 = 0

    // MARK: The owner's debugger (last: the fields the loop reads stay where they were)

    /// Linear addresses of the owner's (debugger's) instruction breakpoints, checked before each
    /// instruction. While any is set every instruction takes the slow path; none costs nothing.
    public var breakpoints: [UInt32] = [] { didSet { updateAttention() } }
    /// The owner's watchpoints (see CPU+Watch.swift): their pages stay out of the soft TLB, so
    /// every access to them reaches the slow path, which records hits.
    public var watchpoints: [OwnerWatch] = [] { didSet { watchpointsChanged() } }
    /// True while `watchpoints` is not empty (the slow access paths test this one flag).
    var ownerWatchesActive = false
    /// Watchpoint hits of the current instruction (filled by the slow access paths).
    public internal(set) var watchHits: [WatchHit] = []
    /// The owner asked the CPU to stop at the next instruction boundary (`requestOwnerStop`).
    var ownerStopRequested = false
    /// Called after each event delivered through the IDT (vector, error code, software INT n):
    /// the debugger's event log. Never called on the fast path.
    public var deliveryObserver: ((_ vector: UInt8, _ errorCode: UInt32?, _ software: Bool) -> Void)? = nil
    /// Called before every instruction while set (an audit watching what the guest executes, a
    /// binary translator's scan-before-execute). Returning true makes the instruction trap to the
    /// owner before it executes (`.intercepted(.translated)`, EIP at it). Setting it sends every
    /// instruction through the slow path; nil costs nothing.
    public var instructionObserver: (() -> Bool)? = nil { didSet { updateAttention() } }
    /// The instruction tracer (`x86v run --trace`): called at every instruction boundary, before
    /// the instruction starts (and before `instructionObserver`). Setting it sends every
    /// instruction through the slow path; nil costs nothing.
    public var traceObserver: (() -> Void)? = nil { didSet { updateAttention() } }
    /// While true, every guest data write is appended to `tracedWrites` (see CPU+Trace.swift).
    public var traceWrites = false { didSet { tlb.flush(keepGlobal: false) } }
    /// The writes recorded since the owner last cleared them (`clearTracedWrites`).
    public internal(set) var tracedWrites: [TracedWrite] = []
    /// True while the delivery in progress is an external interrupt (`deliverInterrupt`), so a
    /// `deliveryObserver` can tell it from an exception with the same vector.
    public internal(set) var deliveringExternalInterrupt = false


    public init(memorySize: Int, privateMemory: Int = 0) {
        memory = PhysicalMemory(size: memorySize, privateBytes: privateMemory)
        s = .allocate(capacity: 1)
        s.initialize(to: CPUState())
        statePointer = s
        gpr = UnsafeMutableRawPointer(s)
            .advanced(by: MemoryLayout<CPUState>.offset(of: \CPUState.regs)!)
            .assumingMemoryBound(to: UInt32.self)
        ram = memory.ram
        ramSize = memory.size
        tlb = SoftTLB(code: memory.code)
        tlbSlots = tlb.slots
        cache = DecodedCache()
        cacheEntries = cache.entries
        blocks = BlockCache()
        blockCounters = .allocate(capacity: 1)
        blockCounters.initialize(to: BlockStats())
        blockChain = .allocate(capacity: 1)
        blockChain.initialize(to: BlockChain())
        codeStamps = memory.code.stamps
        blockBreak = memory.code.blockBreak
        scratchInstruction = .allocate(capacity: 1)
        scratchInstruction.initialize(to: DecodedInstruction())
        crossing = .allocate(capacity: CrossingInstruction.slots)
        crossing.initialize(repeating: CrossingInstruction(), count: CrossingInstruction.slots)
        crossingDecoded = .allocate(capacity: CrossingInstruction.slots)
        crossingDecoded.initialize(repeating: DecodedInstruction(), count: CrossingInstruction.slots)
        exitInstructionPointer = .allocate(capacity: 1)
        exitInstructionPointer.initialize(to: DecodedInstruction())
    }

    deinit {
        s.deinitialize(count: 1)
        s.deallocate()
        tlb.deallocate()
        cache.deallocate()
        blocks.deallocate()
        blockCounters.deallocate()
        blockChain.deallocate()
        scratchInstruction.deallocate()
        crossing.deallocate()
        crossingDecoded.deallocate()
        exitInstructionPointer.deallocate()
    }

    /// The architectural state (a copy).
    public var state: CPUState {
        get { s.pointee }
        set { s.pointee = newValue; flushTLB(); updateAttention() }
    }

    /// EFLAGS with the arithmetic flags computed.
    public var eflags: UInt32 {
        get { materializedFlags() }
        set {
            s.pointee.lazy.op = .none
            s.pointee.flags = (newValue & EFLAGS.writable) | EFLAGS.fixed1
            updateAttention()
        }
    }

    /// Puts the CPU in 32-bit protected mode with paging off and flat 4 GiB segments whose
    /// descriptor caches are loaded directly (no GDT needed): code selector 0x08/0x1B, data
    /// 0x10/0x23 for CPL 0/3. EFLAGS = 0x202 at CPL 3 (IF set), 0x2 at CPL 0. For tests and loaders.
    public func resetFlat(cpl: UInt8) {
        var st = CPUState()
        st.cr0 = CR0.pe | CR0.et
        st.cpl = cpl & 3
        let rpl = UInt16(cpl & 3)
        let dpl = UInt16(cpl & 3) << 5
        let code = SegmentCache(selector: (cpl == 0 ? 0x08 : 0x18) | rpl, base: 0, limit: 0xFFFF_FFFF,
                                attributes: 0xC09B | dpl)
        let data = SegmentCache(selector: (cpl == 0 ? 0x10 : 0x20) | rpl, base: 0, limit: 0xFFFF_FFFF,
                                attributes: 0xC093 | dpl)
        for r in SegmentRegister.allCases { st[r] = r == .cs ? code : data }
        st.flags = cpl == 3 ? 0x202 : 0x2
        st.eip = 0
        st.tr = SegmentCache(selector: 0, base: 0, limit: 0x67, attributes: 0x8B)
        st.ldtr = SegmentCache()
        st.gdtr = TableRegister()
        st.idtr = TableRegister()
        s.pointee = st
        interruptRequested = false
        nmiRequested = false
        deliveringVector = 0xFF
        flushTLB()
        updateAttention()
    }

    /// Drops every cached translation (owners call this after editing paging structures or
    /// state behind the CPU's back).
    public func flushTLB() {
        tlb.flush(keepGlobal: false)
    }

    /// Drops the cached translation of one page: the single entry point the shadow MMU uses after
    /// editing a shadow PTE.
    public func invalidateTLB(page linear: UInt32) {
        tlb.invalidate(page: linear)
    }

    func updateAttention() {
        updateAlignmentCheck()
        let st = s.pointee
        attention = st.flags & (EFLAGS.tf | EFLAGS.rf) != 0 || st.dr[7] & 0xFF != 0
            || st.interruptShadow || !breakpoints.isEmpty || !watchpoints.isEmpty || ownerStopRequested || instructionObserver != nil
            || traceObserver != nil || st.halted
            || (interruptRequested && st.flags & EFLAGS.if != 0)
            || (nmiRequested && !st.nmiBlocked)
            || singleStepHeld || heldBreakpointHits != 0 || ownerCompletedTrap || boundaryCallbackRequested
            || taskTrapPending
    }

    // MARK: The loop

    /// Runs until an exit, or until `maxInstructions` more instructions have retired.
    public func run(maxInstructions: UInt64) -> ExitReason {
        let budgetEnd = s.pointee.instructions &+ maxInstructions
        pendingPort = nil
        updateAttention()
        while true {
            if attention {
                if let exit = boundaryChecks() { return exit }
                if s.pointee.instructions >= budgetEnd { return .instructionLimit }
                if let exit = slowStep() { return exit }
                continue
            }
            // Fast path: no pending events, no TF, no breakpoints. Run a burst. (An instruction
            // may count twice — INT n and its delivery — so the count can pass the budget.)
            var n = min(budgetEnd &- s.pointee.instructions, 4096)
            if n == 0 || s.pointee.instructions > budgetEnd { return .instructionLimit }
            if engine == .blocks {
                while n > 0 {
                    do throws(Fault) {
                        n = try runBlocks(budget: n)
                    } catch {
                        if let exit = handle(error) { return exit }
                        break
                    }
                    if attention { break }
                }
                continue
            }
            while n > 0 {
                do throws(Fault) {
                    try step()
                } catch {
                    if let exit = handle(error) { return exit }
                    break
                }
                n &-= 1
                if attention { break }
            }
        }
    }

    /// Executes exactly one instruction (fetch, decode through the cache, execute, retire).
    @inline(__always)
    func step() throws(Fault) {
        let st = s
        let eip = st.pointee.eip
        st.pointee.currentEIP = eip
        let cs = st.pointee.segments[1]
        let lin = cs.base &+ eip
        let slot = tlbSlots[SoftTLB.index(lin, bank: st.pointee.cpl == 3 ? Int(st.pointee.userBank) : 0)]
        let offset = lin & 0xFFF
        let instruction: UnsafePointer<DecodedInstruction>
        if offset <= 0xFF0 && slot.readTag == lin & 0xFFFF_F000 {
            instruction = try cachedDecode(phys: slot.physPage | offset, big: cs.big)
        } else {
            instruction = try fetchMiss(linear: lin, big: cs.big)
        }
        let length = UInt32(instruction.pointee.length)
        let next = eip &+ length
        let last = next &- 1
        // The whole instruction must lie within CS (a wrap past 4 GiB is outside too).
        if last > cs.limit || last < eip {
            throw Fault.gp(0)
        }
        st.pointee.eip = cs.big ? next : next & 0xFFFF
        try execute(InstructionRef(instruction))
        st.pointee.instructions &+= 1
    }

    /// The decoded-cache entry for the 16 bytes of RAM at `phys` in this code mode, decoded now
    /// if the entry holds another instruction or the bytes changed (self-modifying code).
    @inline(__always)
    func cachedDecode(phys: UInt32, big: Bool) throws(Fault) -> UnsafePointer<DecodedInstruction> {
        let key = UInt64(phys) | (big ? 1 << 32 : 0)
        let entry = cacheEntries + DecodedCache.index(phys)
        if !cacheHolds(entry, phys: phys, key: key) {
            try decodeAndCache(phys: phys, key: key, entry: entry, big: big)
        }
        return UnsafeRawPointer(entry).advanced(by: CachedInstruction.instructionOffset)
            .assumingMemoryBound(to: DecodedInstruction.self)
    }

    /// Whether `entry` is the instruction at `phys` (key) with the bytes now in RAM.
    @inline(__always)
    func cacheHolds(_ entry: UnsafeMutablePointer<CachedInstruction>, phys: UInt32, key: UInt64) -> Bool {
        let lo = ram.loadUnaligned(fromByteOffset: Int(phys), as: UInt64.self)
        let hi = ram.loadUnaligned(fromByteOffset: Int(phys) + 8, as: UInt64.self)
        return entry.pointee.key == key && lo & entry.pointee.maskLow == entry.pointee.bytesLow
            && hi & entry.pointee.maskHigh == entry.pointee.bytesHigh
    }

    /// The fetch after a TLB miss (or near the end of a page): when all 16 bytes lie in one page
    /// of plain RAM, the walk fills the TLB and the instruction comes from the decoded cache as
    /// on the fast path (a CR3 write or INVLPG no longer costs a fresh decode of the next
    /// instruction); otherwise byte by byte through the MMU (`fetchSlow`).
    @inline(never)
    func fetchMiss(linear lin: UInt32, big: Bool) throws(Fault) -> UnsafePointer<DecodedInstruction> {
        let phys = try translate(lin, write: false, user: s.pointee.cpl == 3, fetch: true)
        if memory.isPlainRAMPage(phys & 0xFFFF_F000) {
            if lin & 0xFFF <= 0xFF0 { return try cachedDecode(phys: phys, big: big) }
            // The last 15 bytes of a page: the crossing cache (CPU+CrossingFetch.swift).
            if let hit = try crossingLookup(linear: lin, phys: phys, big: big) { return hit }
            let d = try fetchSlow(linear: lin, big: big, firstPhysical: phys)
            return crossingStore(d, linear: lin, phys: phys, big: big)
        }
        scratchInstruction.pointee = try fetchSlow(linear: lin, big: big, firstPhysical: phys)
        return UnsafePointer(scratchInstruction)
    }

    @inline(never)
    func decodeAndCache(phys: UInt32, key: UInt64, entry: UnsafeMutablePointer<CachedInstruction>,
                        big: Bool) throws(Fault) {
        var d = DecodedInstruction()
        let bytes = (ram + Int(phys)).assumingMemoryBound(to: UInt8.self)
        let status = decoder.decode(bytes, count: 16, mode: big ? .bits32 : .bits16, into: &d)
        guard status == .ok else {
            // 16 bytes are always available here, so anything but .ok is #UD (too long or invalid).
            throw Fault.ud
        }
        let (ml, mh) = DecodedCache.masks(length: Int(d.length))
        entry.pointee = CachedInstruction(
            key: key,
            bytesLow: ram.loadUnaligned(fromByteOffset: Int(phys), as: UInt64.self) & ml,
            bytesHigh: ram.loadUnaligned(fromByteOffset: Int(phys) + 8, as: UInt64.self) & mh,
            maskLow: ml, maskHigh: mh, instruction: d)
    }

    /// Instruction fetch that misses the TLB or may cross a page: fetch byte by byte through the
    /// MMU, only as far as the decoder needs (a fault on the second page happens only if the
    /// instruction really extends into it, with CR2 in that page).
    /// `firstPhysical`: the first page's translation when the caller already made it (a second
    /// walk would be the same, but the caller's is the one the fetch makes).
    @inline(never)
    func fetchSlow(linear: UInt32, big: Bool, firstPhysical: UInt32? = nil) throws(Fault) -> DecodedInstruction {
        var buffer: (UInt64, UInt64) = (0, 0)
        var d = DecodedInstruction()
        return try withUnsafeMutableBytes(of: &buffer) { (raw) throws(Fault) -> DecodedInstruction in
            let bytes = raw.baseAddress!.assumingMemoryBound(to: UInt8.self)
            var have = 0
            // Bytes up to the end of the first page.
            let first = min(16, 0x1000 - Int(linear & 0xFFF))
            let phys: UInt32
            if let p = firstPhysical { phys = p } else { phys = try translate(linear, write: false, user: s.pointee.cpl == 3, fetch: true) }
            for i in 0..<first { bytes[i] = memory.read8(phys &+ UInt32(i)) }
            have = first
            while true {
                let status = decoder.decode(bytes, count: have, mode: big ? .bits32 : .bits16, into: &d)
                switch status {
                case .ok: return d
                case .truncated where have < 16:
                    let next = linear &+ UInt32(have)
                    let p2 = try translate(next, write: false, user: s.pointee.cpl == 3, fetch: true)
                    for i in have..<16 { bytes[i] = memory.read8(p2 &+ UInt32(i - have)) }
                    have = 16
                default:
                    throw Fault.ud
                }
            }
        }
    }

    /// The slow path of one instruction: the instruction breakpoint check, the step itself, then
    /// single-step traps and shadow bookkeeping.
    @inline(never)
    func slowStep() -> ExitReason? {
        let st = s
        let shadowBefore = st.pointee.interruptShadow
        let tfBefore = st.pointee.flags & EFLAGS.tf != 0
        let lin = st.pointee.segments[1].base &+ st.pointee.eip
        if !breakpoints.isEmpty && breakpoints.contains(lin) && !skipOwnerBreakpointOnce {
            skipOwnerBreakpointOnce = true
            return .breakpoint
        }
        skipOwnerBreakpointOnce = false
        if let t = traceObserver { t() }
        if !watchHits.isEmpty { watchHits.removeAll(keepingCapacity: true) }
        // Instruction breakpoints (DR0–DR3 with R/W = 00) are faults, suppressed by RF.
        if st.pointee.flags & EFLAGS.rf == 0, let hit = instructionBreakpointHit(linear: lin) {
            st.pointee.dr[6] = (st.pointee.dr[6] & ~0xF) | hit | 0xFFFF_0FF0
            st.pointee.currentEIP = st.pointee.eip
            return handle(.exception(Vector.debug))
        }
        dataBreakpointHits = 0
        if let observe = instructionObserver, observe() {
            st.pointee.currentEIP = st.pointee.eip
            return .intercepted(.translated)
        }
        do throws(Fault) {
            try step()
        } catch {
            return handle(error)
        }
        // The instruction completed: RF is cleared (SDM Vol. 3A §17.3.1.1) unless the
        // instruction itself set it (IRET, POPF can't).
        if !rfSetByInstruction { st.pointee.flags &= ~EFLAGS.rf }
        rfSetByInstruction = false
        if shadowBefore { st.pointee.interruptShadow = false }
        var trap: UInt32 = 0
        if dataBreakpointHits != 0 { trap |= dataBreakpointHits }
        if tfBefore || singleStepHeld { trap |= 0x4000 }  // DR6.BS
        singleStepHeld = false
        // MOV SS / POP SS hold debug traps until after the next instruction (SDM Vol. 3A §6.8.3).
        if debugTrapsHeld {
            debugTrapsHeld = false
            if trap & 0x4000 != 0 { singleStepHeld = true; trap &= ~0x4000 }
            if trap & 0xF != 0 { heldBreakpointHits |= trap & 0xF; trap &= ~0xF }
        } else if heldBreakpointHits != 0 {
            trap |= heldBreakpointHits
            heldBreakpointHits = 0
        }
        if trap != 0 {
            st.pointee.dr[6] = (st.pointee.dr[6] & ~0xF) | trap | 0xFFFF_0FF0
            st.pointee.currentEIP = st.pointee.eip
            if let exit = deliverOrExit(vector: Vector.debug, errorCode: nil, software: false, isTrap: true) { return exit }
        }
        updateAttention()
        // An owner watchpoint is a trap: the instruction completed, the owner sees it after.
        if !watchHits.isEmpty { return .breakpoint }
        return nil
    }

    var skipOwnerBreakpointOnce = false
    /// Set by MOV SS / POP SS: debug traps of that instruction wait for the next one.
    var debugTrapsHeld = false
    var singleStepHeld = false
    var heldBreakpointHits: UInt32 = 0
    var rfSetByInstruction = false
    var dataBreakpointHits: UInt32 = 0

    /// Interrupt window and halt handling at an instruction boundary.
    @inline(never)
    func boundaryChecks() -> ExitReason? {
        let st = s
        if boundaryCallbackRequested {
            boundaryCallbackRequested = false
            boundaryCallback?()
        }
        if ownerStopRequested {
            ownerStopRequested = false
            updateAttention()
            return .breakpoint
        }
        if taskTrapPending {
            // The debug trap flag of a TSS (SDM Vol. 3A §17.3.1.5): DR6.BT.
            taskTrapPending = false
            st.pointee.dr[6] = (st.pointee.dr[6] & ~0xF) | 0x8000 | 0xFFFF_0FF0
            st.pointee.currentEIP = st.pointee.eip
            if let exit = deliverOrExit(vector: Vector.debug, errorCode: nil, software: false, isTrap: true) {
                return exit
            }
        }
        if ownerCompletedTrap {
            ownerCompletedTrap = false
            st.pointee.dr[6] = (st.pointee.dr[6] & ~0xF) | 0x4000 | 0xFFFF_0FF0
            st.pointee.currentEIP = st.pointee.eip
            if let exit = deliverOrExit(vector: Vector.debug, errorCode: nil, software: false, isTrap: true) {
                return exit
            }
        }
        if interruptRequested && st.pointee.flags & EFLAGS.if != 0 && !st.pointee.interruptShadow {
            return .interruptWindow
        }
        if nmiRequested && !st.pointee.nmiBlocked && !st.pointee.interruptShadow { return .interruptWindow }
        if st.pointee.halted { return .halted }
        return nil
    }

    /// Turns a fault out of `step` into delivery or an exit. Returns nil to keep running.
    @inline(never)
    func handle(_ fault: Fault) -> ExitReason? {
        let st = s
        let blockOp = blockFaultOp
        blockFaultOp = nil
        if fault.kind == .exit {
            let exit = pendingExit
            pendingExit = .instructionLimit
            if case .portIO = exit {
                exitInstructionPointer.pointee = pendingPortInstruction
            } else if let op = blockOp {
                exitInstructionPointer.pointee = op.pointee
            } else {
                captureExitInstruction()
            }
            if case .halted = exit, frozenOnNumericError {
                frozenOnNumericError = false
                st.pointee.eip = st.pointee.currentEIP
                st.pointee.halted = true
                updateAttention()
            } else if case .halted = exit {
                // HLT completed: EIP is past it and it retired, ending any STI/MOV SS shadow
                // (so `sti; hlt` wakes on the next interrupt).
                st.pointee.halted = true
                st.pointee.interruptShadow = false
                st.pointee.instructions &+= 1
                updateAttention()
            } else {
                // Exits happen before the instruction changes anything.
                st.pointee.eip = st.pointee.currentEIP
                if case .portIO(let access) = exit { pendingPort = access }
            }
            return exit
        }
        if fault.kind == .softwareInterrupt {
            st.pointee.instructions &+= 1
            let icebp = fault.errorCode & 2 != 0
            return deliverOrExit(vector: fault.vector, errorCode: nil, software: !icebp, isTrap: true,
                                 isINT3: fault.errorCode != 0)
        }
        // Faults restart the instruction: EIP back to its first byte.
        st.pointee.eip = st.pointee.currentEIP
        return deliverOrExit(vector: fault.vector, errorCode: fault.hasErrorCode ? fault.errorCode : nil,
                             software: false, isTrap: false)
    }
}

