import X86Decode

/// The block engine (`--engine blocks`): runs predecoded basic blocks when nothing needs
/// attention. Per block it does once what the interpreter does per instruction: the code-TLB
/// lookup, finding the decoded instructions (a directory lookup and a page-stamp compare instead
/// of a byte compare per instruction), the CS limit check and the budget. Per instruction it keeps
/// `currentEIP`, `eip` and the count exact, so a fault, an exit or the budget in the middle of a
/// block looks exactly as in the interpreter; everything that needs attention (TF, breakpoints,
/// interrupt windows, observers) runs in the shared slow path, one instruction at a time.
///
/// A block is valid while its page's write stamp is unchanged (CodePages.swift); anything that
/// can change what the running block assumes sets `blockBreak` (a store to code, any TLB change,
/// `attention`), and the block stops after the current instruction.
extension CPU {
    /// Runs blocks (or single instructions the engine cannot run as blocks) until `budget`
    /// instructions have retired or something sets `blockBreak`; returns the budget left.
    @inline(never)
    func runBlocks(budget: UInt64) throws(Fault) -> UInt64 {
        let st = s
        var n = budget
        // The block that just ran to its end with no break (so the TLB is as when it was
        // entered), and the linear page, physical page and TLB bank it was entered with.
        // Kept in memory, not in locals: live across the inner loop they cost registers there.
        let chain = blockChain
        chain.pointee.previous = -1
        while n > 0 {
            let eip = st.pointee.eip
            let cs = st.pointee.segments[1]
            let lin = cs.base &+ eip
            let b = st.pointee.cpl == 3 ? Int(st.pointee.userBank) : 0
            var block: Int
            if case let previous = chain.pointee.previous, previous >= 0, case let p = blocks.headers + previous, p.pointee.linkEIP == eip,
               lin & 0xFFFF_F000 == chain.pointee.linearPage, b == chain.pointee.bank,
               case let link = Int(p.pointee.link), case let chained = blocks.headers + link,
               chained.pointee.key == UInt64(chain.pointee.physPage | (lin & 0xFFF)) | (cs.big ? 1 << 32 : 0),
               chained.pointee.stamp == codeStamps[Int(chain.pointee.physPage >> 12)] {
                // Chained: the block that followed last time, in the same page, still valid. The
                // TLB lookup and the directory probe are skipped; nothing else is.
                block = link
                blockCounters.pointee.chained &+= 1
            } else {
                let slot = tlbSlots[SoftTLB.index(lin, bank: b)]
                guard slot.readTag == lin & 0xFFFF_F000 else {
                    try interpretOne()
                    return n &- 1
                }
                block = blockAt(phys: slot.physPage | (lin & 0xFFF), big: cs.big)
                let previous = chain.pointee.previous
                if previous >= 0 && lin & 0xFFFF_F000 == chain.pointee.linearPage {
                    blocks.headers[previous].linkEIP = eip
                    blocks.headers[previous].link = Int32(block)
                }
                chain.pointee.linearPage = lin & 0xFFFF_F000
                chain.pointee.physPage = slot.physPage
                chain.pointee.bank = b
            }
            let h = blocks.headers + block
            let count = Int(h.pointee.count)
            let end = eip &+ UInt32(h.pointee.bytes) &- 1
            // The CS limit once for the whole block (and no 16-bit IP wrap inside it); a block
            // the engine cannot run is one instruction for the interpreter.
            if count == 0 || end > cs.limit || end < eip || (!cs.big && end > 0xFFFF) {
                try interpretOne()
                return n &- 1
            }
            blockBreak.pointee = 0
            var op = blocks.ops + block &<< BlockCache.opsShift
            let stop = UInt64(count) < n ? UInt64(count) : n
            // EIP and the count live in locals inside the block and are only stored (never
            // reloaded): a load of the value just stored would chain every instruction to the
            // previous one through store forwarding. Only terminators change EIP otherwise, and
            // only `execute` changes the count (a REP's iterations): it is re-read after that.
            var e = eip
            var icount = st.pointee.instructions
            // The loop runs while the count is below `end` (no separate instruction counter).
            let first = icount
            let countEnd = icount &+ stop
            instructions: repeat {
                st.pointee.currentEIP = e
                e &+= UInt32(op.pointee.instruction.length)
                st.pointee.eip = e
                do throws(Fault) {
                    // The handlers, written out in the loop: as a function of their own they were
                    // not inlined (a call, a prologue and an epilogue per instruction).
                    let p = UnsafeRawPointer(op).assumingMemoryBound(to: DecodedInstruction.self)
                    let d = InstructionRef(p)
                    switch op.pointee.handler {
                    case .generic:
                        try executeGeneric(d)
                        icount = st.pointee.instructions
                        if blockBreak.pointee != 0 { icount &+= 1; st.pointee.instructions = icount; break instructions }
                    case .aluRR32:
                        let x = op.pointee.registers
                        aluRegisters32(op: Int(d.opcode >> 3), dst: Int(x & 7), src: Int(x >> 3))
                    case .aluRI32:
                        aluRegisterImmediate(Int(d.reg), Int(d.modrm & 7), d.immediate, sz: 4)
                    case .aluGvM32:
                        try blockAluGvM32(d)
                        if blockBreak.pointee != 0 { icount &+= 1; st.pointee.instructions = icount; break instructions }
                    case .movRR32:
                        let x = op.pointee.registers
                        gpr[Int(x & 7)] = gpr[Int(x >> 3)]
                    case .movRI32:
                        gpr[Int(d.opcode & 7)] = d.immediate
                    case .loadRM32:
                        try blockLoad32(op)
                        if blockBreak.pointee != 0 { icount &+= 1; st.pointee.instructions = icount; break instructions }
                    case .storeMR32:
                        try blockStore32(op, gpr[Int(d.reg)])
                        if blockBreak.pointee != 0 { icount &+= 1; st.pointee.instructions = icount; break instructions }
                    case .storeMI32:
                        try blockStore32(op, d.immediate)
                        if blockBreak.pointee != 0 { icount &+= 1; st.pointee.instructions = icount; break instructions }
                    case .lea32:
                        gpr[Int(d.reg)] = blockOffset(op)
                    case .inc32:
                        incRegister(Int(d.opcode & 7), sz: 4)
                    case .dec32:
                        decRegister(Int(d.opcode & 7), sz: 4)
                    case .push32:
                        try blockPush32(gpr[Int(d.opcode & 7)])
                        if blockBreak.pointee != 0 { icount &+= 1; st.pointee.instructions = icount; break instructions }
                    case .pop32:
                        try blockPop32(Int(d.opcode & 7))
                        if blockBreak.pointee != 0 { icount &+= 1; st.pointee.instructions = icount; break instructions }
                    case .testRR32:
                        test(gpr[Int(d.modrm & 7)], gpr[Int(d.reg)], size: 4)
                    case .shiftRI32:
                        let count = d.immediate & 0x1F
                        if count != 0 { shiftRegister32(Int(d.reg), Int(d.modrm & 7), count: count) }
                    case .rotateRI32:
                        let count = d.immediate & 0x1F
                        if count != 0 { rotateRegister32(Int(d.reg), Int(d.modrm & 7), count: count) }
                    case .aluAI32:
                        aluRegisterImmediate(Int(d.opcode >> 3), 0, d.immediate, sz: 4)
                    case .testAI32:
                        test(gpr[0], d.immediate, size: 4)
                    case .imulRRI32:
                        gpr[Int(d.reg)] = imulTruncating(gpr[Int(d.modrm & 7)], d.immediate, sz: 4)
                    case .jzz:
                        // JZ/JNZ: ZF straight from the lazy result (any operation but none).
                        let l = st.pointee.lazy
                        let zero = l.op == .none ? st.pointee.flags & EFLAGS.zf != 0 : l.result & maskFor(l.size) == 0
                        if zero != (d.opcode & 1 != 0) { try jumpRelative(d.immediate, sz: d.operandSize32 ? 4 : 2) }
                    case .jcc:
                        if condition(d.opcode & 0xF) { try jumpRelative(d.immediate, sz: d.operandSize32 ? 4 : 2) }
                    case .jmpRel:
                        try jumpRelative(d.immediate, sz: d.operandSize32 ? 4 : 2)
                    case .callRel32:
                        try blockCall32(d.immediate)
                    case .ret32:
                        try blockReturn32()
                    case .movx:
                        try blockMovx(op)
                        if blockBreak.pointee != 0 { icount &+= 1; st.pointee.instructions = icount; break instructions }
                    case .movRR8:
                        let x = op.pointee.registers
                        setReg(Int(x & 7), size: 1, reg(Int(x >> 3), size: 1))
                    case .loadRM8:
                        try blockLoad8(op)
                        if blockBreak.pointee != 0 { icount &+= 1; st.pointee.instructions = icount; break instructions }
                    case .loadRM16:
                        try blockLoad16(op)
                        if blockBreak.pointee != 0 { icount &+= 1; st.pointee.instructions = icount; break instructions }
                    case .storeMR8:
                        try blockStore8(op, reg(Int(d.reg), size: 1))
                        if blockBreak.pointee != 0 { icount &+= 1; st.pointee.instructions = icount; break instructions }
                    case .storeMR16:
                        try blockStore16(op, gpr[Int(d.reg)])
                        if blockBreak.pointee != 0 { icount &+= 1; st.pointee.instructions = icount; break instructions }
                    case .alu8:
                        blockAlu8(op)
                    case .aluForm, .aluEvI, .testE, .group3, .imulGvEv, .cmov, .setcc, .shift, .x87, .simd:
                        try blockFamily(op)
                        if blockBreak.pointee != 0 { icount &+= 1; st.pointee.instructions = icount; break instructions }
                    case .nop:
                        break
                    }
                } catch {
                    // `handle` copies the exiting instruction from here instead of decoding it.
                    blockFaultOp = UnsafeRawPointer(op).assumingMemoryBound(to: DecodedInstruction.self)
                    blockCounters.pointee.executions &+= 1
                    blockCounters.pointee.instructions &+= icount &- first
                    throw error
                }
                icount &+= 1
                st.pointee.instructions = icount
                op += 1
                // Only the handlers that touch memory or run `execute` can set `blockBreak` (a
                // store to code, a TLB fill, attention): they check it themselves.
            } while icount < countEnd
            // A REP's iterations count too: the budget left may be less than nothing (it is a
            // burst size, and the caller reads the count itself).
            let done = icount &- first
            blockCounters.pointee.executions &+= 1
            blockCounters.pointee.instructions &+= done
            n = done < n ? n &- done : 0
            if blockBreak.pointee != 0 { return n }
            chain.pointee.previous = block
        }
        return n
    }

    /// One instruction through the interpreter (the engine could not run it as a block).
    @inline(never)
    func interpretOne() throws(Fault) {
        blockCounters.pointee.interpreted &+= 1
        try step()
    }

    /// Decodes the block at `phys` into slot `i`: up to `BlockCache.maxOps` instructions, ending
    /// after one that does not continue the block, or before one that would cross the page end
    /// or does not decode (the interpreter then runs that one and raises what it must).
    @inline(never)
    func buildBlock(phys: UInt32, key: UInt64, at i: Int, big: Bool) {
        blockCounters.pointee.built &+= 1
        let h = blocks.headers + i
        let ops = blocks.ops + i &* BlockCache.maxOps
        let pageEnd = (phys & 0xFFFF_F000) &+ 0x1000
        var at = phys
        var count = 0
        while count < BlockCache.maxOps && at < pageEnd {
            let available = Int(min(pageEnd &- at, 16))
            let bytes = (ram + Int(at)).assumingMemoryBound(to: UInt8.self)
            var d = DecodedInstruction()
            guard decoder.decode(bytes, count: available, mode: big ? .bits32 : .bits16, into: &d) == .ok else { break }
            ops[count] = BlockOp(instruction: d, handler: BlockHandler.choose(d), registers: BlockHandler.registers(d),
                                 address: d.addressSize32 && d.modrm < 0xC0 ? BlockAddress(d) : BlockAddress())
            count += 1
            at &+= UInt32(d.length)
            if !BlockHandler.continuesBlock(d) { break }
        }
        let page = Int(phys >> 12)
        var stamp = codeStamps[page]
        if count > 0 {
            let (marked, newlyCode) = memory.markCode(page: page, first: phys & 0xFFF, end: at &- (phys & 0xFFFF_F000))
            stamp = marked
            if newlyCode { tlb.revokeFastWrites(physPage: phys & 0xFFFF_F000) }
        }
        h.pointee = BlockHeader(key: key, stamp: stamp, count: UInt16(count), bytes: UInt16(at &- phys))
    }

    // The handlers that access memory, out of line: inline, their address and TLB code made the
    // loop large enough that the register allocator spilled on every path (measured: 3% slower).
    @inline(never) func blockAluGvM32(_ d: InstructionRef) throws(Fault) { try aluForm(d, op: Int(d.opcode >> 3), form: 3, sz: 4) }
    /// The offset of a predecoded 32-bit memory operand.
    @inline(__always)
    func blockOffset(_ op: UnsafeMutablePointer<BlockOp>) -> UInt32 {
        let a = op.pointee.address
        var offset = op.pointee.instruction.displacement
        if a.base < 8 { offset &+= gpr[Int(a.base)] }
        if a.index < 8 { offset &+= gpr[Int(a.index)] &<< a.scale }
        return offset
    }

    /// MOV r, m (8, 16 or 32 bits): the register is written only after the read succeeded.
    @inline(__always) func blockLoad(_ op: UnsafeMutablePointer<BlockOp>, size: Int) throws(Fault) {
        let v = try read(Int(op.pointee.address.segment), blockOffset(op), size: size)
        setReg(Int((op.pointee.instruction.modrm >> 3) & 7), size: size, v)
    }

    /// MOV m, r/imm (8, 16 or 32 bits).
    @inline(__always) func blockStore(_ op: UnsafeMutablePointer<BlockOp>, size: Int, _ value: UInt32) throws(Fault) {
        try write(Int(op.pointee.address.segment), blockOffset(op), size: size, value)
    }

    // One function per size, so the size folds into the segment, TLB and RAM access.
    @inline(never) func blockLoad8(_ op: UnsafeMutablePointer<BlockOp>) throws(Fault) { try blockLoad(op, size: 1) }
    @inline(never) func blockLoad16(_ op: UnsafeMutablePointer<BlockOp>) throws(Fault) { try blockLoad(op, size: 2) }
    @inline(never) func blockLoad32(_ op: UnsafeMutablePointer<BlockOp>) throws(Fault) { try blockLoad(op, size: 4) }
    @inline(never) func blockStore8(_ op: UnsafeMutablePointer<BlockOp>, _ v: UInt32) throws(Fault) { try blockStore(op, size: 1, v) }
    @inline(never) func blockStore16(_ op: UnsafeMutablePointer<BlockOp>, _ v: UInt32) throws(Fault) { try blockStore(op, size: 2, v) }
    @inline(never) func blockStore32(_ op: UnsafeMutablePointer<BlockOp>, _ v: UInt32) throws(Fault) { try blockStore(op, size: 4, v) }

    /// MOVZX/MOVSX r32, r/m8 or r/m16 (0F B6, B7, BE, BF).
    @inline(never) func blockMovx(_ op: UnsafeMutablePointer<BlockOp>) throws(Fault) {
        let d = op.pointee.instruction
        let signed = d.opcode >= 0xBE
        let r = Int(d.reg)
        if d.modrm >= 0xC0 {
            let size = d.opcode & 1 == 0 ? 1 : 2
            gpr[r] = extend(reg(Int(d.modrm & 7), size: size), size: size, signed: signed)
        } else if d.opcode & 1 == 0 {
            gpr[r] = extend(try read(Int(op.pointee.address.segment), blockOffset(op), size: 1), size: 1, signed: signed)
        } else {
            gpr[r] = extend(try read(Int(op.pointee.address.segment), blockOffset(op), size: 2), size: 2, signed: signed)
        }
    }

    /// 8-bit ALU between registers or with an immediate (see `BlockHandler.alu8`): the
    /// operations of `aluCompute` and `test` at size 1, without an operand decode.
    @inline(never) func blockAlu8(_ op: UnsafeMutablePointer<BlockOp>) {
        let d = InstructionRef(UnsafeRawPointer(op).assumingMemoryBound(to: DecodedInstruction.self))
        // Register and immediate forms only (chosen at decode time), so nothing here can fault.
        switch d.opcode {
        case 0x84: test(reg(Int(d.modrm & 7), size: 1), reg(Int(d.reg), size: 1), size: 1)
        case 0x80, 0x82: aluRegisterImmediate(Int(d.reg), Int(d.modrm & 7), d.immediate, sz: 1)
        default: try? aluForm(d, op: Int(d.opcode >> 3), form: d.opcode & 7, sz: 1)
        }
    }

    /// The instruction families that keep `execute`'s own case, called without its opcode switch.
    @inline(never) func blockFamily(_ op: UnsafeMutablePointer<BlockOp>) throws(Fault) {
        let d = InstructionRef(UnsafeRawPointer(op).assumingMemoryBound(to: DecodedInstruction.self))
        let opc = d.opcode
        let sz = d.operandSize32 ? 4 : 2
        switch op.pointee.handler {
        case .aluForm: try aluForm(d, op: Int(opc >> 3), form: opc & 7, sz: sz)
        case .aluEvI: try aluEvI(d, sz: opc == 0x80 || opc == 0x82 ? 1 : sz)
        case .testE: try testEG(d, sz: sz)
        case .group3: try group3(d, sz: opc == 0xF6 ? 1 : sz)
        case .imulGvEv: try imulGvEv(d, sz: sz)
        case .cmov: try cmov(d, sz: sz)
        case .setcc: try setcc(d)
        case .shift: try shiftGroup(d, sz: opc & 1 == 0 ? 1 : sz)
        case .x87: try x87(d)
        case .simd: try simdOrPrefetch(d)
        default: try execute(d)
        }
    }

    @inline(never) func blockPush32(_ value: UInt32) throws(Fault) { try push(value, size: 4) }
    @inline(never) func blockPop32(_ r: Int) throws(Fault) { try popRegister(r, sz: 4) }
    @inline(never) func blockCall32(_ displacement: UInt32) throws(Fault) { try callRelative(displacement, sz: 4) }
    @inline(never) func blockReturn32() throws(Fault) { try nearReturn(sz: 4, release: 0) }

    /// `execute` out of line: the block loop keeps its specialised handlers inline and small,
    /// and pays a call only for the shapes that have none.
    @inline(never)
    func executeGeneric(_ d: InstructionRef) throws(Fault) {
        try execute(d)
    }

    /// The number of instructions of the block the engine would run at CS:EIP now (built if it
    /// is not there yet, as the engine would), or 0 when it would interpret one instruction: the
    /// engine lockstep runs the block engine one block at a time with this as the budget.
    public func blockLengthAtEIP() -> Int {
        let st = s
        let lin = st.pointee.segments[1].base &+ st.pointee.eip
        let slot = tlbSlots[SoftTLB.index(lin, bank: st.pointee.cpl == 3 ? Int(st.pointee.userBank) : 0)]
        guard engine == .blocks, slot.readTag == lin & 0xFFFF_F000 else { return 0 }
        return Int(blocks.headers[blockAt(phys: slot.physPage | (lin & 0xFFF), big: st.pointee.segments[1].big)].count)
    }

    /// The directory slot of the block at `phys` in this code mode, built there first unless the
    /// slot holds it, still valid (its page's stamp unchanged).
    @inline(__always)
    func blockAt(phys: UInt32, big: Bool) -> Int {
        let key = UInt64(phys) | (big ? 1 << 32 : 0)
        let i = BlockCache.index(phys)
        let h = blocks.headers + i
        if h.pointee.key != key || h.pointee.stamp != codeStamps[Int(phys >> 12)] {
            buildBlock(phys: phys, key: key, at: i, big: big)
        }
        return i
    }

    /// The block engine's counters so far.
    public var blockStats: BlockStats { blockCounters.pointee }
}
