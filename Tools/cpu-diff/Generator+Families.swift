/// The instruction families, each encoded by hand from SDM Vol. 2 (opcode, ModRM, immediates).
extension Generator {
    static func osz(_ size: Int) -> [UInt8] { size == 16 ? [0x66] : [] }
    static func immediate(_ v: UInt32, bytes: Int) -> [UInt8] { Array(le32(v).prefix(bytes)) }

    mutating func emitRandom() {
        switch rng.below(100) {
        case 0..<16: alu()
        case 16..<19: testInstruction()
        case 19..<23: incDecNegNot()
        case 23..<33: shift()
        case 33..<37: doubleShift()
        case 37..<42: multiply()
        case 42..<46: divide()
        case 46..<49: bcd()
        case 49..<53: bitTest()
        case 53..<55: bitScan()
        case 55..<56: bswap()
        case 56..<59: exchange()
        case 59..<66: move()
        case 66..<68: convert()
        case 68..<75: conditional()
        case 75..<77: loop()
        case 77..<84: stack()
        case 84..<86: enterLeave()
        case 86..<89: flagInstruction()
        case 89..<90: xlat()
        case 90..<97: string()
        default: nop()
        }
    }

    /// ADD OR ADC SBB AND SUB XOR CMP in all six forms and the 80/81/82/83 groups.
    mutating func alu() {
        let op = UInt8(rng.below(8))
        let size = randomSize()
        let w: UInt8 = size == 8 ? 0 : 1
        let width = size / 8
        let immBytes = size == 8 ? 1 : width
        switch rng.below(5) {
        case 0:  // Eb/Ev, Gb/Gv
            let rm = rmOperand(width: width)
            if rng.chance(2) {
                // LOCK with a register destination (or on CMP): #UD.
                let target = rm.isMemory ? 7 : op
                emitInvalid(rm.encode([0xF0] + Generator.osz(size), [target << 3 | w], reg: UInt8(rng.below(8))))
                return
            }
            let lock: [UInt8] = rm.isMemory && op != 7 && rng.chance(20) ? [0xF0] : []
            emit(rm.encode(lock + Generator.osz(size), [op << 3 | w], reg: UInt8(rng.below(8))))
        case 1:  // Gb/Gv, Eb/Ev
            let rm = rmOperand(width: width)
            let reg = size == 8 ? UInt8(rng.below(8)) : destination()
            emit(rm.encode(Generator.osz(size), [op << 3 | 2 | w], reg: reg))
        case 2:  // AL/eAX, imm
            emit(Generator.osz(size) + [op << 3 | 4 | w] + Generator.immediate(value(), bytes: immBytes))
        default:  // group 1
            let rm = rmOperand(width: width)
            let lock: [UInt8] = rm.isMemory && op != 7 && rng.chance(20) ? [0xF0] : []
            if size != 8 && rng.chance(50) {
                emit(rm.encode(lock + Generator.osz(size), [0x83], reg: op, [UInt8(truncatingIfNeeded: value())]))
            } else {
                let opcode: UInt8 = size == 8 ? (rng.chance(10) ? 0x82 : 0x80) : 0x81
                emit(rm.encode(lock + Generator.osz(size), [opcode], reg: op, Generator.immediate(value(), bytes: immBytes)))
            }
        }
    }

    mutating func testInstruction() {
        let size = randomSize()
        let w: UInt8 = size == 8 ? 0 : 1
        let immBytes = size == 8 ? 1 : size / 8
        switch rng.below(3) {
        case 0: emit(rmOperand(width: size / 8).encode(Generator.osz(size), [0x84 | w], reg: UInt8(rng.below(8))))
        case 1: emit(Generator.osz(size) + [0xA8 | w] + Generator.immediate(value(), bytes: immBytes))
        default:
            emit(rmOperand(width: size / 8).encode(Generator.osz(size), [0xF6 | w], reg: UInt8(rng.below(2)),
                                                 Generator.immediate(value(), bytes: immBytes)))
        }
    }

    mutating func incDecNegNot() {
        let size = randomSize()
        let w: UInt8 = size == 8 ? 0 : 1
        if size != 8 && rng.chance(30) {
            emit(Generator.osz(size) + [(rng.chance(50) ? 0x40 : 0x48) + destination()])
            return
        }
        let rm = rmOperand(width: size / 8)
        let lock: [UInt8] = rm.isMemory && rng.chance(20) ? [0xF0] : []
        if rng.chance(50) {
            emit(rm.encode(lock + Generator.osz(size), [0xFE | w], reg: UInt8(rng.below(2))))
        } else {
            emit(rm.encode(lock + Generator.osz(size), [0xF6 | w], reg: UInt8(2 + rng.below(2))))
        }
    }

    mutating func count() -> UInt8 {
        rng.chance(75) ? rng.pick(Generator.counts) : UInt8(rng.below(256))
    }

    /// ROL ROR RCL RCR SHL SHR SAL SAR by 1, CL and imm8.
    mutating func shift() {
        let op = UInt8(rng.below(8))
        let size = randomSize()
        let w: UInt8 = size == 8 ? 0 : 1
        let rm = rmOperand(width: size / 8, memoryPercent: 30, avoid: [1])
        switch rng.below(3) {
        case 0: emit(rm.encode(Generator.osz(size), [0xD0 | w], reg: op))
        case 1: emit(rm.encode(Generator.osz(size), [0xC0 | w], reg: op, [count()]))
        default:
            if rng.chance(70) {
                let c = count()
                setup([0xB1, c])
                emit(rm.encode(Generator.osz(size), [0xD2 | w], reg: op), cl: c)
            } else {
                emit(rm.encode(Generator.osz(size), [0xD2 | w], reg: op))
            }
        }
    }

    /// SHLD/SHRD by imm8 and CL. A 16-bit count above 16 leaves the result undefined: not generated.
    mutating func doubleShift() {
        let size = rng.chance(60) ? 32 : 16
        let opcode: UInt8 = rng.chance(50) ? 0xA4 : 0xAC
        var c = count()
        if size == 16 && c & 0x1F > 16 { c &= 0x0F }
        let rm = rmOperand(width: size / 8, memoryPercent: 30, avoid: [1])
        let reg = UInt8(rng.below(8))
        if rng.chance(50) {
            emit(rm.encode(Generator.osz(size), [0x0F, opcode], reg: reg, [c]))
        } else {
            setup([0xB1, c])
            emit(rm.encode(Generator.osz(size), [0x0F, opcode | 1], reg: reg), cl: c)
        }
    }

    /// MUL/IMUL with one operand, IMUL Gv,Ev and IMUL Gv,Ev,imm.
    mutating func multiply() {
        let size = randomSize()
        switch rng.below(4) {
        case 0, 1:
            let w: UInt8 = size == 8 ? 0 : 1
            emit(rmOperand(width: size / 8).encode(Generator.osz(size), [0xF6 | w], reg: UInt8(4 + rng.below(2))))
        case 2:
            let s = size == 8 ? 32 : size
            emit(rmOperand(width: s / 8).encode(Generator.osz(s), [0x0F, 0xAF], reg: destination()))
        default:
            let s = size == 8 ? 32 : size
            let rm = rmOperand(width: s / 8)
            if rng.chance(50) {
                emit(rm.encode(Generator.osz(s), [0x6B], reg: destination(), [UInt8(truncatingIfNeeded: value())]))
            } else {
                emit(rm.encode(Generator.osz(s), [0x69], reg: destination(), Generator.immediate(value(), bytes: s / 8)))
            }
        }
    }

    /// DIV/IDIV. Usually the dividend and divisor are set up so the quotient fits; otherwise
    /// (and for IDIV's most negative / -1) the CPU raises #DE, which both sides must agree on.
    mutating func divide() {
        let size = randomSize()
        let w: UInt8 = size == 8 ? 0 : 1
        let signed = rng.chance(50)
        let reg: UInt8 = signed ? 7 : 6
        let prepared = rng.chance(85)
        var rm: RM
        if rng.chance(35) {
            rm = memory(width: size / 8, avoid: [0, 2])
        } else {
            let r = size == 8 ? rng.pick([1, 3, 5, 7] as [UInt8]) : rng.pick([1, 3, 5, 6, 7] as [UInt8])
            rm = Generator.register(r)
            if prepared {
                var d = value()
                if d & 0xFF == 0 { d |= UInt32(1 + rng.below(255)) }
                setRegister(r & 3 | (size == 8 ? 0 : r & 4), size == 8 && r >= 4 ? d << 8 | d : d)
            }
        }
        if prepared {
            setRegister(0, value())
            if signed {
                setup(size == 8 ? [0x66, 0x98] : Generator.osz(size) + [0x99])
            } else {
                setup(size == 8 ? [0xB4, 0] : [0xBA] + le32(0))
            }
        }
        emit(rm.encode(Generator.osz(size), [0xF6 | w], reg: reg))
    }

    /// DAA DAS AAA AAS, AAM/AAD imm8 (AAM 0 raises #DE).
    mutating func bcd() {
        switch rng.below(6) {
        case 0: emit([0x27])
        case 1: emit([0x2F])
        case 2: emit([0x37])
        case 3: emit([0x3F])
        case 4: emit([0xD4, rng.chance(70) ? 10 : rng.chance(10) ? 0 : UInt8(rng.below(256))])
        default: emit([0xD5, rng.chance(70) ? 10 : UInt8(rng.below(256))])
        }
    }

    /// BT BTS BTR BTC with a register or imm8 bit offset, on registers and on memory with large
    /// (and negative) register offsets that still land in the sandbox.
    mutating func bitTest() {
        let size = rng.chance(60) ? 32 : 16
        let kind = UInt8(rng.below(4))  // BT BTS BTR BTC
        let lock: [UInt8] = kind != 0 && rng.chance(20) ? [0xF0] : []
        if rng.chance(40) {
            let rm = rmOperand(width: size / 8)
            emit(rm.encode((rm.isMemory ? lock : []) + Generator.osz(size), [0x0F, 0xBA], reg: 4 + kind,
                           [UInt8(truncatingIfNeeded: value())]))
            return
        }
        let opcode: UInt8 = [0xA3, 0xAB, 0xB3, 0xBB][Int(kind)]
        if rng.chance(40) {
            emit(Generator.register(destination()).encode(Generator.osz(size), [0x0F, opcode], reg: UInt8(rng.below(8))))
            return
        }
        // Memory: the operand is the sandbox middle and the offset register reaches ±4 KiB.
        let offsetRegister = destination()
        let rm = memory(width: size / 8, offset: 0x1000, avoid: [offsetRegister], allow16: size == 16)
        let offset = size == 16 ? rng.u32() : UInt32(bitPattern: Int32(rng.below(65536) - 32768))
        setRegister(offsetRegister, offset)
        emit(rm.encode(lock + Generator.osz(size), [0x0F, opcode], reg: offsetRegister))
    }

    mutating func bitScan() {
        let size = rng.chance(60) ? 32 : 16
        emit(rmOperand(width: size / 8).encode(Generator.osz(size), [0x0F, rng.chance(50) ? 0xBC : 0xBD],
                                               reg: destination()))
    }

    /// BSWAP r32 (the 16-bit form is undefined).
    mutating func bswap() { emit([0x0F, 0xC8 + destination()]) }

    /// XCHG, XADD, CMPXCHG, CMPXCHG8B.
    mutating func exchange() {
        let size = randomSize()
        let w: UInt8 = size == 8 ? 0 : 1
        let reg = size == 8 ? UInt8(rng.below(8)) : destination()
        switch rng.below(5) {
        case 0:
            if size != 8 && rng.chance(30) {
                emit(Generator.osz(size) + [0x90 + destination()])
            } else {
                let rm = rmOperand(width: size / 8)
                emit(rm.encode(rm.isMemory && rng.chance(20) ? [0xF0] + Generator.osz(size) : Generator.osz(size),
                               [0x86 | w], reg: reg))
            }
        case 1:
            let rm = rmOperand(width: size / 8)
            emit(rm.encode(rm.isMemory && rng.chance(20) ? [0xF0] + Generator.osz(size) : Generator.osz(size),
                           [0x0F, 0xC0 | w], reg: reg))
        case 2, 3:
            let rm = rmOperand(width: size / 8)
            if rng.chance(40) && !rm.isMemory { setup([0x89, 0xC0 | (rm.modrm & 7) << 3]) }  // make EAX equal
            emit(rm.encode(rm.isMemory && rng.chance(20) ? [0xF0] + Generator.osz(size) : Generator.osz(size),
                           [0x0F, 0xB0 | w], reg: reg))
        default:
            // CMPXCHG8B: half the time EDX:EAX matches the operand.
            let edx = value(), eax = value()
            setRegister(0, eax)
            setRegister(2, edx)
            let offset = sandboxOffset(width: 8)
            if rng.chance(50) {
                for k in 0..<8 where Int(offset) + k < Layout.sandboxSize {
                    let v = k < 4 ? eax : edx
                    patches.append((UInt16(Int(offset) + k), UInt8(truncatingIfNeeded: v >> (8 * UInt32(k % 4)))))
                }
            }
            let rm = memory(width: 8, offset: offset, avoid: [0, 2])
            emit(rm.encode(rng.chance(20) ? [0xF0] : [], [0x0F, 0xC7], reg: 1))
        }
    }

    /// MOV in its register, memory, immediate and moffs forms; MOVSX/MOVZX; LEA (any registers,
    /// no memory access, 16- and 32-bit addressing).
    mutating func move() {
        let size = randomSize()
        let w: UInt8 = size == 8 ? 0 : 1
        let immBytes = size == 8 ? 1 : size / 8
        switch rng.below(8) {
        case 0: emit(rmOperand(width: size / 8).encode(Generator.osz(size), [0x88 | w], reg: UInt8(rng.below(8))))
        case 1:
            emit(rmOperand(width: size / 8).encode(Generator.osz(size), [0x8A | w],
                                                  reg: size == 8 ? UInt8(rng.below(8)) : destination()))
        case 2:
            emit(rmOperand(width: size / 8).encode(Generator.osz(size), [0xC6 | w], reg: 0,
                                                  Generator.immediate(value(), bytes: immBytes)))
        case 3:
            if size == 8 {
                emit([0xB0 + UInt8(rng.below(8)), UInt8(truncatingIfNeeded: value())])
            } else {
                emit(Generator.osz(size) + [0xB8 + destination()] + Generator.immediate(value(), bytes: immBytes))
            }
        case 4:
            let offset = sandboxOffset(width: size / 8)
            patchValue(offset: offset, width: size / 8)
            emit(Generator.osz(size) + [0xA0 | (rng.chance(50) ? 2 : 0) | w] + le32(Layout.sandboxBase + offset))
        case 5:
            let s = rng.chance(50) ? 32 : 16
            let byteSource = rng.chance(50)
            let rm = rmOperand(width: byteSource ? 1 : 2)
            emit(rm.encode(Generator.osz(s), [0x0F, (rng.chance(50) ? 0xB6 : 0xBE) | (byteSource ? 0 : 1)],
                           reg: destination()))
        default:
            lea(size: size == 8 ? 32 : size)
        }
    }

    mutating func lea(size: Int) {
        var bytes = Generator.osz(size)
        let mod = UInt8(rng.below(3))
        if rng.chance(25) {
            bytes.append(0x67)
            bytes += [0x8D, mod << 6 | destination() << 3 | UInt8(rng.below(8))]
            if mod == 0 && bytes.last! & 7 == 6 { bytes += le16(UInt16(rng.below(65536))) }
            if mod == 1 { bytes.append(UInt8(rng.below(256))) }
            if mod == 2 { bytes += le16(UInt16(rng.below(65536))) }
        } else {
            let rm = UInt8(rng.below(8))
            bytes += [0x8D, mod << 6 | destination() << 3 | rm]
            if rm == 4 {
                let sib = UInt8(rng.below(256))
                bytes.append(sib)
                if mod == 0 && sib & 7 == 5 { bytes += le32(value()) }
            }
            if mod == 0 && rm == 5 { bytes += le32(value()) }
            if mod == 1 { bytes.append(UInt8(rng.below(256))) }
            if mod == 2 { bytes += le32(value()) }
        }
        emit(bytes)
    }

    /// CBW/CWDE, CWD/CDQ.
    mutating func convert() {
        emit((rng.chance(50) ? [0x66] : []) + [rng.chance(50) ? 0x98 : 0x99])
    }

    /// SETcc, CMOVcc and forward Jcc/JMP (short and near).
    mutating func conditional() {
        let cc = UInt8(rng.below(16))
        switch rng.below(5) {
        case 0: emit(rmOperand(width: 1).encode([], [0x0F, 0x90 | cc], reg: 0))
        case 1:
            let size = rng.chance(60) ? 32 : 16
            emit(rmOperand(width: size / 8).encode(Generator.osz(size), [0x0F, 0x40 | cc], reg: destination()))
        case 2, 3: emit([0x70 | cc, 0], skip: rng.below(4), relativeSize: 1)
        default:
            switch rng.below(3) {
            case 0: emit([0x0F, 0x80 | cc, 0, 0, 0, 0], skip: rng.below(4), relativeSize: 4)
            case 1: emit([0xEB, 0], skip: rng.below(3), relativeSize: 1)
            default: emit([0xE9, 0, 0, 0, 0], skip: rng.below(3), relativeSize: 4)
            }
        }
    }

    /// LOOP LOOPE LOOPNE JECXZ (JCXZ and CX-counted loops with 67), forward only; sometimes
    /// CALL to the next instruction (the return address goes on the sandbox stack), then POP.
    mutating func loop() {
        if rng.chance(20) {
            emit([0xE8, 0, 0, 0, 0])
            if rng.chance(60) { emit([0x58 + destination()]) }
            return
        }
        if rng.chance(40) { setRegister(1, rng.pick([0, 1, 2, 0x10000, 0x10001, value()])) }
        let prefix: [UInt8] = rng.chance(25) ? [0x67] : []
        emit(prefix + [0xE0 + UInt8(rng.below(4)), 0], skip: rng.below(4), relativeSize: 1)
    }

    /// PUSH/POP (registers, memory, immediates, 16-bit forms), PUSHA/POPA, PUSHF/POPF.
    mutating func stack() {
        let o16: [UInt8] = rng.chance(25) ? [0x66] : []
        let width = o16.isEmpty ? 4 : 2
        switch rng.below(11) {
        case 0: emit(o16 + [0x50 + UInt8(rng.below(8))])
        case 1: emit(o16 + [0x58 + destination()])
        case 2: emit(o16 + [0x6A, UInt8(rng.below(256))])
        case 3: emit(o16 + [0x68] + Generator.immediate(value(), bytes: width))
        case 4: emit(memory(width: width).encode(o16, [0xFF], reg: 6))
        case 5:
            if rng.chance(30) {
                emit(o16 + [0x8F, 0xC0 | destination()])
            } else {
                emit(memory(width: width).encode(o16, [0x8F], reg: 0))
            }
        case 6: emit(o16 + [0x60])
        case 7: emit(o16 + [0x61])
        case 8: emit(o16 + [0x9C])
        default:
            // POPF of a crafted image: arithmetic flags and DF random; IF and IOPL random too (at
            // CPL 3 with IOPL 0 POPF leaves them alone); never TF, AC, NT or VM.
            var image = rng.u32() & (Layout.caseFlags | 0x3200)
            if rng.chance(10) { image |= 0x20_0000 }  // ID
            setup(o16 + [0x68] + Generator.immediate(image, bytes: width))
            emit(o16 + [0x9D])
        }
    }

    /// ENTER (levels 0–3) and LEAVE, with EBP pointing into the stack area first.
    mutating func enterLeave() {
        let o16: [UInt8] = rng.chance(20) ? [0x66] : []
        let d = UInt8(truncatingIfNeeded: rng.below(97) - 48)
        if rng.chance(50) {
            let level = rng.chance(50) ? 0 : rng.chance(90) ? UInt8(1 + rng.below(3)) : rng.pick([5, 31, 32, 33] as [UInt8])
            if level > 1 || rng.chance(30) { setup([0x8D, 0x6C, 0x24, d]) }  // lea ebp, [esp + d]
            let size = UInt16(rng.pick([0, 4, 8, 16, rng.below(65)]))
            emit(o16 + [0xC8] + le16(size) + [level])
        } else {
            setup([0x8D, 0x6C, 0x24, d])
            emit(o16 + [0xC9])
        }
    }

    /// LAHF SAHF CLC STC CMC CLD STD.
    mutating func flagInstruction() {
        emit([rng.pick([0x9F, 0x9E, 0xF8, 0xF9, 0xF5, 0xFC, 0xFD] as [UInt8])])
    }

    /// XLAT: EBX (or BX through FS with 67) points at a 256-byte table in the sandbox.
    mutating func xlat() {
        let offset = UInt32(16 + rng.below(Layout.sandboxSize - 256 - 32))
        if rng.chance(25) {
            setRegister(3, (rng.u32() & 0xFFFF_0000) | offset)
            emit([0x67, 0x64, 0xD7])
        } else {
            setRegister(3, Layout.sandboxBase + offset)
            emit([0xD7])
        }
    }

    /// MOVS STOS LODS CMPS SCAS, with and without REP/REPE/REPNE, both directions, small counts,
    /// 32-bit addressing, and 16-bit addressing (SI/DI/CX) when the sandbox is reachable: FS:SI
    /// for the source, and ES:DI when ES is the sandbox segment in this case.
    mutating func string() {
        let size = randomSize()
        let w: UInt8 = size == 8 ? 0 : 1
        let op: UInt8 = [0xA4, 0xAA, 0xAC, 0xA6, 0xAE][rng.below(5)]
        let rep = rng.chance(60)
        if rng.chance(20) { setup([rng.chance(50) ? 0xFC : 0xFD]) }  // CLD/STD: no arithmetic flags
        let margin = 64
        func pointer() -> UInt32 { UInt32(margin + rng.below(Layout.sandboxSize - 2 * margin)) }
        let readsSource = op == 0xA4 || op == 0xAC || op == 0xA6
        let writesDestination = op != 0xAC
        var prefixes: [UInt8] = []
        if rep { prefixes.append(op == 0xA6 || op == 0xAE ? rng.pick([0xF3, 0xF2]) : 0xF3) }
        prefixes += Generator.osz(size)
        if (esSandbox || !writesDestination) && rng.chance(30) {
            prefixes.append(0x67)
            if readsSource { prefixes.append(0x64) }
            setRegister(6, (rng.u32() & 0xFFFF_0000) | pointer())
            setRegister(7, (rng.u32() & 0xFFFF_0000) | pointer())
            if rep { setRegister(1, (rng.u32() & 0xFFFF_0000) | UInt32(rng.below(9))) }
            emit(prefixes + [op | w])
            return
        }
        var sourceSegment: UInt8 = 0x3E
        if readsSource && rng.chance(20) {
            sourceSegment = rng.pick([0x26, 0x36, 0x3E])
            prefixes.append(sourceSegment)
        }
        let sourceRelative = sourceSegment == 0x26 && esSandbox
        setRegister(6, (sourceRelative ? 0 : Layout.sandboxBase) + pointer())
        setRegister(7, (esSandbox ? 0 : Layout.sandboxBase) + pointer())
        if rep { setRegister(1, UInt32(rng.below(9))) }
        emit(prefixes + [op | w])
    }

    /// NOP, 66 NOP, PAUSE, the multi-byte 0F 1F NOP and hint NOPs (no memory access).
    mutating func nop() {
        switch rng.below(4) {
        case 0: emit([0x90])
        case 1: emit(rng.chance(50) ? [0x66, 0x90] : [0xF3, 0x90])
        case 2: emit([0x0F, 0x1F, 0x44, 0x00, 0x00])
        default:
            let rm = UInt8(rng.below(8))
            emit(Generator.osz(rng.chance(50) ? 16 : 32) + [0x0F, 0x1F, 0x80 | rm] + (rm == 4 ? [0x24] : []) + le32(value()))
        }
    }
}
