/// One line of a QEMU 7.2 `-d cpu,nochain,exec,int` log, read in place from the input window.
///
/// The lines this reader knows (every other line is ignored):
///
///     Trace 0: 0x7f8b883cd8c0 [00000000/00100010/000000b0/ff000201] _start
///                              cs_base  pc (linear) flags cflags       symbol
///     EAX=2badb002 EBX=00009500 ECX=00100010 EDX=00000511        ┐ the CPU state (before the
///     …                                                          ┘ record's instruction)
///     Stopped execution of TB chain before 0x7f… [00100010] _start   (the record just above
///                                                                    did not run: see the reader)
///     Servicing hardware INT=0x20
///          3: v=0e e=0002 i=0 cpl=0 IP=0008:00100c80 pc=00100c80 SP=0010:00109fb0 CR2=00300010
///     SMM: enter / SMM: after RSM                                    (a dump follows, not a record)
///
/// Hex is parsed by hand from the bytes: no `String` is made for a line.
struct QEMULine {
    let base: UnsafeRawPointer
    let start: Int
    let end: Int

    var count: Int { end - start }

    @inline(__always) subscript(_ i: Int) -> UInt8 {
        base.load(fromByteOffset: start + i, as: UInt8.self)
    }

    /// Four bytes at `i` as a little-endian word (0 past the end), to compare with `QEMUKey`.
    @inline(__always) func word(at i: Int) -> UInt32 {
        guard i >= 0, i + 4 <= count else { return 0 }
        return UInt32(littleEndian: base.loadUnaligned(fromByteOffset: start + i, as: UInt32.self))
    }

    /// `digits` hex digits at `i` (QEMU prints fixed widths: %08x, %04x).
    @inline(__always) func hex(at i: Int, digits: Int) -> UInt32? {
        guard i >= 0, i + digits <= count else { return nil }
        var value: UInt32 = 0, bad: UInt8 = 0
        for j in 0..<digits {
            let d = hexValue(self[i + j])
            bad |= d
            value = value << 4 | UInt32(d & 15)
        }
        return bad & 0xF0 == 0 ? value : nil
    }

    /// A run of 1…8 hex digits at `i` (QEMU's %02x/%04x grow with the value) and the index after it.
    func hexRun(at i: Int) -> (value: UInt32, next: Int)? {
        var j = i, value: UInt32 = 0
        while j < count, j - i < 8 {
            let d = hexValue(self[j])
            if d > 15 { break }
            value = value << 4 | UInt32(d)
            j += 1
        }
        return j > i ? (value, j) : nil
    }

    func hasPrefix(_ text: StaticString, at i: Int = 0) -> Bool {
        let n = text.utf8CodeUnitCount
        guard i >= 0, i + n <= count else { return false }
        let t = text.utf8Start
        for j in 0..<n where self[i + j] != t[j] { return false }
        return true
    }

    /// The line's text, for messages only.
    var text: String {
        String(decoding: UnsafeRawBufferPointer(start: base + start, count: min(count, 120)), as: UTF8.self)
    }
}

@inline(__always) private func hexValue(_ b: UInt8) -> UInt8 {
    let d = b &- 0x30
    if d < 10 { return d }
    let l = (b | 0x20) &- 0x61
    return l < 6 ? l + 10 : 0xFF
}

/// The first four bytes of a line as a little-endian word, for one compare per line kind.
enum QEMUKey {
    private static func of(_ a: Unicode.Scalar, _ b: Unicode.Scalar, _ c: Unicode.Scalar, _ d: Unicode.Scalar) -> UInt32 {
        UInt32(a.value) | UInt32(b.value) << 8 | UInt32(c.value) << 16 | UInt32(d.value) << 24
    }
    static let trace = of("T", "r", "a", "c")
    static let stop = of("S", "t", "o", "p")
    static let serv = of("S", "e", "r", "v")
    static let smm = of("S", "M", "M", ":")
    static let eax = of("E", "A", "X", "="), ebx = of("E", "B", "X", "="), ecx = of("E", "C", "X", "=")
    static let edx = of("E", "D", "X", "="), esi = of("E", "S", "I", "="), edi = of("E", "D", "I", "=")
    static let ebp = of("E", "B", "P", "="), esp = of("E", "S", "P", "="), eip = of("E", "I", "P", "=")
    static let efl = of("E", "F", "L", "="), hlt = of("H", "L", "T", "=")
    static let es = of("E", "S", " ", "="), cs = of("C", "S", " ", "="), ss = of("S", "S", " ", "=")
    static let ds = of("D", "S", " ", "="), fs = of("F", "S", " ", "="), gs = of("G", "S", " ", "=")
    static let ldt = of("L", "D", "T", "="), tr = of("T", "R", " ", "="), gdt = of("G", "D", "T", "=")
    static let idt = of("I", "D", "T", "="), cr0 = of("C", "R", "0", "="), cr2 = of("C", "R", "2", "=")
    static let cr3 = of("C", "R", "3", "="), cr4 = of("C", "R", "4", "=")
    static let fcw = of("F", "C", "W", "=")
}

enum QEMULineKind {
    case trace, registers, stopped, servicing, delivery, smm, other
}

extension QEMULine {
    var kind: QEMULineKind {
        switch word(at: 0) {
        case QEMUKey.eax: return .registers
        case QEMUKey.trace: return hasPrefix("Trace ") ? .trace : .other
        case QEMUKey.stop: return hasPrefix("Stopped execution of TB chain") ? .stopped : .other
        case QEMUKey.serv: return hasPrefix("Servicing hardware INT=0x") ? .servicing : .other
        case QEMUKey.smm: return .smm
        default: return isDelivery ? .delivery : .other
        }
    }

    /// "%6d: v=" — QEMU's count of deliveries, right-aligned, then the vector.
    private var isDelivery: Bool {
        var i = 0
        while i < count, self[i] == 0x20 { i += 1 }
        let digits = i
        while i < count, self[i] &- 0x30 < 10 { i += 1 }
        return i > digits && hasPrefix(": v=", at: i)
    }

    /// The bracket of a Trace line: "[cs_base/pc/flags/cflags]", each %08x.
    var traceFields: (csBase: UInt32, pc: UInt32, cflags: UInt32)? {
        var b = 6
        while b < count, self[b] != 0x5B { b += 1 }  // '['
        guard b + 36 < count, let csBase = hex(at: b + 1, digits: 8), let pc = hex(at: b + 10, digits: 8),
              let cflags = hex(at: b + 28, digits: 8),
              self[b + 9] == 0x2F, self[b + 18] == 0x2F, self[b + 27] == 0x2F, self[b + 36] == 0x5D
        else { return nil }
        return (csBase, pc, cflags)
    }

    /// "Servicing hardware INT=0xNN".
    var servicedVector: UInt8? {
        guard let run = hexRun(at: 25), run.value < 256 else { return nil }
        return UInt8(run.value)
    }

    /// "N: v=NN e=EEEE i=I cpl=… [CR2=XXXXXXXX | env->regs[R_EAX]=XXXXXXXX]" (QEMU's
    /// do_interrupt_all, printed only in protected mode; CR2 only for vector 14).
    var delivery: QEMUDelivery? {
        var i = 0
        while i < count, self[i] != 0x3A { i += 1 }  // ':'
        guard hasPrefix(": v=", at: i), let v = hexRun(at: i + 4), v.value < 256,
              hasPrefix(" e=", at: v.next), let e = hexRun(at: v.next + 3),
              hasPrefix(" i=", at: e.next), e.next + 3 < count
        else { return nil }
        let isInt = self[e.next + 3]
        guard isInt == 0x30 || isInt == 0x31 else { return nil }
        var cr2: UInt32? = nil
        if v.value == 14 {
            guard hasPrefix("CR2=", at: count - 12), let value = hex(at: count - 8, digits: 8) else { return nil }
            cr2 = value
        }
        return QEMUDelivery(vector: UInt8(v.value), errorCode: e.value, isInt: isInt == 0x31, cr2: cr2)
    }
}

/// A "v=" line: QEMU delivering a vector through the IDT.
struct QEMUDelivery {
    var vector: UInt8
    /// Printed for every vector (0 when the vector has none).
    var errorCode: UInt32
    /// i=1: INT n, INT3 or INTO.
    var isInt: Bool
    /// #PF only.
    var cr2: UInt32?
}
