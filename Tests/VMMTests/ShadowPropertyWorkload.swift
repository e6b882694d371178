#if canImport(Glibc)
import Glibc
#endif
import Machine
import ShadowMMU
import X86Core
import VMM

/// The step generator of the shadow property test (`ShadowPropertyTests.swift`): random guest
/// code that edits page tables in the ways kernels do, chosen with the reference machine (the
/// direct MMU) at hand.
///
/// It reads the reference for two reasons:
/// - Safety. Every store must leave the test's own machinery alone (GDT, IDT, TSS, the #PF
///   handler, the code, the stack, the identity map): one random PTE mapping the handler writable
///   and one random write through it end the run in a triple fault that tests nothing. The
///   generator walks the reference's tables as the CPU does, simulates each store on the bytes
///   it reaches, and refuses any that would make an entry map one of those frames.
/// - Definedness. After a store changes a paging entry that was present, hardware may go on
///   using the old translation until it is invalidated, so an outcome that differs there is no
///   bug. `afterStep` diffs the reference's paging-structure frames across the step and puts at
///   the start of the next step exactly the invalidation the SDM asks for (Vol. 3A §4.10.4):
///   INVLPG of each linear page mapped through a changed entry, or a CR3 reload when no global
///   entry can be involved. A change from not-present to present, or one that only sets A or D,
///   needs none (§4.10.4.3), and gets none: the shadow must be right about those by itself.
struct ShadowWorkload {
    var r: SeededRandom
    /// The reference machine (direct MMU): its tables and registers are the guest's.
    let reference: PCMachine
    /// What the step built so far has stored, as this generator simulates it (physical → byte).
    var pending: [UInt32: UInt8] = [:]
    /// A store of this step reached a paging structure in use: no translated access may follow
    /// it (the TLB may still hold what it replaced).
    var frozen = false
    /// Paging structures the reference uses now: the directories and the tables of their slots 1–3.
    var inUse: [UInt32] = []
    /// The tables of the current directory's slots 1–3 (what most table stores go to: a store
    /// to a table nothing has shadowed is only a store).
    var currentTables: [UInt32] = []
    /// The invalidation the last step made necessary: the next step starts with it.
    var flush = StepCode()
    var counts = Counts()
    let flushes: FlushPolicy

    /// How a step's required invalidation is done (with CR4.PGE it is always INVLPG: a CR3
    /// reload keeps global translations).
    enum FlushPolicy: String, Sendable {
        /// INVLPG of exactly the pages mapped through what changed: what kernels do. The shadow
        /// resyncs or drops exactly those entries.
        case invlpg
        /// A CR3 reload: every other shadow entry is kept and must be right by itself (a table
        /// store the shadow missed shows here; exact INVLPGs would have dropped it).
        case reload
        /// Either, half and half.
        case mixed
    }

    struct Counts {
        /// Paging entries changed by guest stores, and how many of those needed an invalidation.
        var entriesChanged = 0, entriesInvalidated = 0
        var invlpgFlushes = 0, reloadFlushes = 0
    }

    enum Kind {
        case edit, partialEdit, pageStraddle, rmwEntry, string, push, interruptFrame, farPointer
        case pde, access, group, invlpg, cr3, wp, pge
    }

    /// Step kinds and their weights (out of 100). Table stores of every shape are two fifths of
    /// the steps, accesses (which make the fills, prefetches and A/D updates) as many; the CR0.WP
    /// and CR4.PGE toggles are rare because each drops every shadow.
    static let mix: [(Kind, Int)] = [
        (.edit, 14), (.partialEdit, 6), (.pageStraddle, 3), (.rmwEntry, 8), (.string, 3), (.push, 3),
        (.interruptFrame, 2), (.farPointer, 2), (.pde, 5), (.access, 26), (.group, 17), (.invlpg, 4),
        (.cr3, 5), (.wp, 1), (.pge, 1),
    ]

    init(seed: UInt64, flushes: FlushPolicy, reference: PCMachine) {
        r = SeededRandom(state: seed)
        self.flushes = flushes
        self.reference = reference
    }

    // MARK: Random choices

    mutating func below(_ n: Int) -> Int { Int(r.next() % UInt64(n)) }
    mutating func chance(_ n: Int, in d: Int) -> Bool { below(d) < n }
    mutating func pick<T>(_ a: [T]) -> T { a[below(a.count)] }

    /// A page index of slots 1–3: mostly the first prefetch group, often the second, sometimes
    /// the last page (whose entry is the one a store straddling a table's end reaches).
    mutating func pageIndex() -> UInt32 {
        switch below(10) {
        case 0..<6: UInt32(below(8))
        case 6..<9: UInt32(8 + below(8))
        default: 1023
        }
    }

    /// A page-table entry: a data frame mostly, sometimes a table or a directory (so the guest can
    /// write its tables through a data alias) or a frame of the 4 MiB page; present 7 times in 8,
    /// with A set 3 times in 4 (what the pte-update path rebuilds from) and random R/W, U/S, D, G.
    mutating func pteValue() -> UInt32 {
        let frame: UInt32
        switch below(20) {
        case 0..<14: frame = pick(Layout.dataFrames)
        case 14..<17: frame = pick(Layout.tables)
        case 17: frame = pick(Layout.directories)
        default: frame = Layout.largeFrame + UInt32(below(16)) << 12
        }
        var flags: UInt32 = chance(7, in: 8) ? 0x1 : 0
        flags |= UInt32(truncatingIfNeeded: r.next()) & 0x46  // R/W, U/S, D
        if chance(3, in: 4) { flags |= 0x20 }
        if chance(1, in: 6) { flags |= 0x100 }
        return frame | flags
    }

    /// A page-directory entry for slot `slot`: a page table (or a data frame used as one), a 4 MiB
    /// page, or in slot 3 a directory (its own or another's: a self map reaches the PDEs).
    mutating func pdeValue(slot: UInt32) -> UInt32 {
        let bits = UInt32(truncatingIfNeeded: r.next())
        switch below(8) {
        case 0, 1: return Layout.largeFrame | 0x81 | (bits & 0x166)
        case 2 where slot == 3: return pick(Layout.directories) | 0x3 | (bits & 0x24)
        case 3: return pick(Layout.dataFrames) | 0x3 | (bits & 0x24)
        default: return pick(Layout.tables) | (chance(5, in: 6) ? 1 : 0) | (bits & 0x26)
        }
    }

    /// The physical address of a page-table entry a step edits through the identity map: mostly
    /// in a table the current directory uses (a data frame too, when a PDE makes it a table),
    /// sometimes any table, sometimes a directory entry a self map reaches as a PTE.
    mutating func entryAddress() -> UInt32 {
        let index = pageIndex()
        let frame: UInt32
        switch below(20) {
        case 0: frame = pick(Layout.directories)
        case 1..<6: frame = pick(Layout.tables)
        default: frame = currentTables.isEmpty ? pick(Layout.tables) : pick(currentTables)
        }
        // A directory's slots 0–3 are its PDEs: the PDE steps edit those.
        return frame + (Layout.directories.contains(frame) && index < 4 ? index + 4 : index) * 4
    }

    // MARK: Simulated memory and safety

    func peek8(_ p: UInt32) -> UInt8 { pending[p] ?? reference.memory.read8(p) }
    func peek(_ p: UInt32, size: Int) -> UInt32 {
        (0..<size).reduce(UInt32(0)) { $0 | UInt32(peek8(p &+ UInt32($1))) << (8 * UInt32($1)) }
    }

    /// Whether `v` may stand in a page table: not present, or mapping a frame the test does not
    /// depend on.
    static func safeTableEntry(_ v: UInt32) -> Bool { v & 1 == 0 || !Layout.isCritical(v & 0xFFFF_F000) }

    /// Whether `v` may stand in slot 1–3 of a directory: not present, the 4 MiB page, or a table
    /// among the frames whose stores this generator checks (so its entries stay safe too).
    static func safeDirectoryEntry(_ v: UInt32) -> Bool {
        guard v & 1 != 0 else { return true }
        if v & 0x80 != 0 { return v & 0xFFFF_E000 == Layout.largeFrame }
        return Layout.paging.contains(v & 0xFFFF_F000)
    }

    /// Whether the dword at physical `a` may hold `new` (`old` before the step). The identity
    /// map (and a directory's slot 0 pointing at it) may only gain A or D from hardware (a self
    /// map makes slot 0 a leaf): the step's own instruction fetches and stack go through it, so
    /// any other change would leave them on a translation the TLB may or may not still hold.
    static func safe(_ a: UInt32, old: UInt32, new: UInt32) -> Bool {
        let frame = a & 0xFFFF_F000, index = (a & 0xFFF) >> 2
        let hardwareOnly = new & ~0x60 == old & ~0x60 && new & old == old
        if Layout.isCritical(frame) { return frame == Layout.identityTable ? hardwareOnly : new == old }
        guard Layout.paging.contains(frame) else { return true }
        if Layout.directories.contains(frame) {
            if index == 0 { return hardwareOnly }
            if index <= 3 { return safeDirectoryEntry(new) && safeTableEntry(new) }
        }
        return safeTableEntry(new)
    }

    /// The identity table or a directory's slot 0: guest stores leave them alone altogether.
    static func isIdentity(_ a: UInt32) -> Bool {
        a & 0xFFFF_F000 == Layout.identityTable || Layout.directories.contains(a & 0xFFFF_F000) && a & 0xFFF < 4
    }

    /// Simulates storing `bytes` at physical `p` (contiguous; through the identity map they may
    /// cross into the next frame): records them and returns true when every entry they change
    /// stays safe, else records nothing and returns false.
    mutating func store(_ p: UInt32, _ bytes: [UInt8]) -> Bool {
        let first = p & ~3, last = (p &+ UInt32(bytes.count) &- 1) & ~3
        var updates: [(UInt32, UInt8)] = []
        for a in stride(from: first, through: last, by: 4) {
            guard a < reference.memory.guestSize else { continue }  // nothing decodes it
            var new = peek(a, size: 4)
            for (i, b) in bytes.enumerated() where p &+ UInt32(i) >= a && p &+ UInt32(i) < a + 4 {
                let shift = 8 * (p &+ UInt32(i) &- a)
                new = new & ~(0xFF << shift) | UInt32(b) << shift
                updates.append((p &+ UInt32(i), b))
            }
            let old = reference.memory.read32(a)
            guard Self.safe(a, old: old, new: new), new == old || !Self.isIdentity(a) else { return false }
        }
        for (address, b) in updates { pending[address] = b }
        if inUse.contains(p & 0xFFFF_F000) || inUse.contains(last & 0xFFFF_F000) { frozen = true }
        return true
    }

    mutating func store(_ p: UInt32, size: Int, value: UInt32) -> Bool {
        store(p, (0..<size).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) })
    }

    /// Where an access at `linear` lands (slots 1–3 through the reference's tables, slot 0 the
    /// identity map), or nil when it faults and so stores nothing. With `access`, the A and D bits
    /// the walk sets are simulated too: through a self map the leaf can be the very entry the
    /// access then modifies (a D set by the walk, then an ADD of 0x40, carries into PS).
    mutating func translate(_ linear: UInt32, write: Bool, user: Bool, access: Bool = true) -> UInt32? {
        if linear < 0x40_0000 { return linear }
        let controls = GuestPageWalk.Controls(cpu: reference.cpu)!
        let w = GuestPageWalk.walk(reference.memory, controls, linear: linear, write: write, user: user)
        guard w.faultCode == nil else { return nil }
        if access {
            func set(_ a: UInt32, _ bits: UInt32) {
                for (i, b) in le(peek(a, size: 4) | bits).enumerated() { pending[a + UInt32(i)] = b }
            }
            let dirty: UInt32 = write ? 0x40 : 0
            set(w.pdeAddress, w.large ? 0x20 | dirty : 0x20)
            if let a = w.pteAddress { set(a, 0x20 | dirty) }
        }
        return w.frame | (linear & 0xFFF)
    }

    // MARK: Steps

    /// The next step: the pending invalidation, then one generated step, then `jmp $`.
    mutating func next() -> StepCode {
        let mem = reference.memory
        let current = reference.cpu.statePointer.pointee.cr3 & 0xFFFF_F000
        inUse = Layout.directories
        currentTables = []
        for d in Layout.directories {
            for slot: UInt32 in 1...3 {
                let pde = mem.read32(d + slot * 4)
                guard pde & 0x81 == 0x1 else { continue }
                if !inUse.contains(pde & 0xFFFF_F000) { inUse.append(pde & 0xFFFF_F000) }
                if d == current { currentTables.append(pde & 0xFFFF_F000) }
            }
        }
        let total = Self.mix.reduce(0) { $0 + $1.1 }
        while true {
            pending.removeAll(keepingCapacity: true)
            frozen = false
            var c = flush
            var roll = below(total)
            let kind = Self.mix.first { roll -= $0.1; return roll < 0 }!.0
            guard generate(kind, &c) else { continue }
            if c.end == nil { c.end = c.address }
            c.emit([0xEB, 0xFE])
            flush = StepCode()
            return c
        }
    }

    mutating func generate(_ kind: Kind, _ c: inout StepCode) -> Bool {
        switch kind {
        case .edit: return edit(&c)
        case .partialEdit: return partialEdit(&c)
        case .pageStraddle: return pageStraddle(&c)
        case .rmwEntry:
            let a = entryAddress()
            let (size, offset) = chance(3, in: 4) ? (4, UInt32(0)) : pick([(2, UInt32(below(4))), (1, UInt32(below(4)))])
            return rmw(at: a + offset, linear: a + offset, size: size, &c)
        case .string: return string(&c)
        case .push: return push(&c)
        case .interruptFrame: return interruptFrame(&c)
        case .farPointer: return farPointer(&c)
        case .pde:
            let directory = pick(Layout.directories), slot = UInt32(1 + below(3))
            let value = pdeValue(slot: slot)
            guard store(directory + slot * 4, size: 4, value: value) else { return false }
            c.emit([0xC7, 0x05] + le(directory + slot * 4) + le(value))
            return true
        case .access:
            let user = chance(1, in: 5)
            if user { enterUser(&c) }
            access(slot: UInt32(1 + below(3)), page: pageIndex(), user: user, rmwAllowed: true, &c)
            if user { leaveUser(&c) }
            return true
        case .group: return group(&c)
        case .invlpg:
            c.emit([0x0F, 0x01, 0x3D] + le(UInt32(1 + below(3)) << 22 | pageIndex() << 12))
            return true
        case .cr3: return cr3(&c)
        case .wp:
            c.emit([0x0F, 0x20, 0xC0]); c.emit([0x35] + le(CR0.wp)); c.emit([0x0F, 0x22, 0xC0])
            return true
        case .pge:
            c.emit([0x0F, 0x20, 0xE0]); c.emit([0x35] + le(CR4.pge)); c.emit([0x0F, 0x22, 0xE0])
            return true
        }
    }

    /// An aligned MOV of a whole entry through the identity map (`mov dword [a], imm32`); a third
    /// keep the frame and change only the flags (permissions, A/D), as kernels mostly do; a few
    /// make the table map itself (a fill through it then tracks the very frame it maps).
    mutating func edit(_ c: inout StepCode) -> Bool {
        let a = entryAddress()
        var v = pteValue()
        switch below(12) {
        case 0..<4: v = reference.memory.read32(a) & 0xFFFF_F000 | v & 0xFFF
        case 4, 5: v = a & 0xFFFF_F000 | v & 0xFFF
        default: break
        }
        guard store(a, size: 4, value: v) else { return false }
        c.emit([0xC7, 0x05] + le(a) + le(v))
        return true
    }

    /// A 1-, 2- or 4-byte MOV at an unaligned offset inside an entry: a 2-byte store at offset 3
    /// or a 4-byte one at 1–3 changes two entries with one store.
    mutating func partialEdit(_ c: inout StepCode) -> Bool {
        let a = entryAddress()
        let size = pick([1, 2, 4])
        let offset = UInt32(size == 4 ? 1 + below(3) : below(4))
        // The bytes of two plausible entries, so each entry the store reaches stays one.
        let pair = le(pteValue()) + le(pteValue())
        let bytes = Array(pair[Int(offset)..<(Int(offset) + size)])
        guard store(a + offset, bytes) else { return false }
        let v = le32(bytes)
        switch size {
        case 1: c.emit([0xC6, 0x05] + le(a + offset) + [bytes[0]])
        case 2: c.emit([0x66, 0xC7, 0x05] + le(a + offset) + Array(le(v)[0..<2]))
        default: c.emit([0xC7, 0x05] + le(a + offset) + le(v))
        }
        return true
    }

    /// A store crossing from the last entry of one table page into the first of the next (the
    /// identity map makes adjacent frames adjacent linear pages): the CPU translates both pages
    /// first, so this takes the compare-at-the-boundary path, not the emulated store. A MOV of 2
    /// or 4 bytes, or an XCHG (a read-modify-write across the pages).
    mutating func pageStraddle(_ c: inout StepCode) -> Bool {
        let k = below(Layout.tables.count - 1)
        let end = Layout.tables[k] + 0x1000
        let size = pick([2, 4, 4])
        let p = end - UInt32(1 + below(size - 1))
        let pair = le(pteValue()) + le(pteValue())
        let start = Int(p - (end - 4))
        let bytes = Array(pair[start..<(start + size)])
        guard store(p, bytes) else { return false }
        if chance(1, in: 3) && size == 4 {
            c.emit([0xBE] + le(p))
            c.emit([0xB8] + le(le32(bytes)))
            c.emit([0x87, 0x06])  // xchg [esi], eax
        } else if size == 4 {
            c.emit([0xC7, 0x05] + le(p) + bytes)
        } else {
            c.emit([0x66, 0xC7, 0x05] + le(p) + bytes)
        }
        return true
    }

    /// A read-modify-write of `size` bytes at `linear` (physical `p`, or nil when it faults):
    /// ADD, OR, AND, XCHG, XADD, CMPXCHG, INC/DEC, BTS/BTR/BTC, CMPXCHG8B. All check the page
    /// for writing before reading (`probeWrite`), so on a table page they take the compare path.
    /// Addressed by [ESI] and padded to 6 bytes, so the #PF handler can skip them.
    mutating func rmw(at p: UInt32?, linear: UInt32, size: Int, _ c: inout StepCode) -> Bool {
        let mask: UInt32 = size == 4 ? 0xFFFF_FFFF : (1 << (8 * UInt32(size))) - 1
        let old = p.map { peek($0, size: size) } ?? 0
        let prefix: [UInt8] = size == 2 ? [0x66] : []
        let wide: UInt8 = size == 1 ? 0 : 1
        var new: UInt32
        var setup: [(UInt8, UInt32)] = [(0xBE, linear)]  // mov esi, linear
        var op: [UInt8]
        switch below(9) {
        case 0:  // add [esi], eax (or xadd)
            let v = pick([1, 2, 4, 0x20, 0x40, 0x100, 0x1000, 0xFFFF_F000] as [UInt32]) & mask
            new = (old &+ v) & mask
            setup.append((0xB8, v))
            op = chance(1, in: 2) ? prefix + [0x00 | wide, 0x06] : prefix + [0x0F, 0xC0 | wide, 0x06]
        case 1:  // or [esi], eax
            let v = pick([1, 2, 4, 0x20, 0x40, 0x60, 0x100] as [UInt32]) & mask
            new = old | v
            setup.append((0xB8, v))
            op = prefix + [0x08 | wide, 0x06]
        case 2:  // and [esi], eax
            let v = ~pick([1, 2, 4, 0x20, 0x40, 0x60, 0x100] as [UInt32]) & mask
            new = old & v
            setup.append((0xB8, v))
            op = prefix + [0x20 | wide, 0x06]
        case 3:  // xchg [esi], eax
            let v = pteValue() & mask
            new = v
            setup.append((0xB8, v))
            op = prefix + [0x86 | wide, 0x06]
        case 4, 5:  // cmpxchg [esi], ecx: equal half the time
            let v = pteValue() & mask
            let expected = chance(1, in: 2) ? old : pteValue() & mask
            new = expected == old ? v : old
            setup += [(0xB8, expected), (0xB9, v)]
            op = prefix + [0x0F, 0xB0 | wide, 0x0E]
        case 6:  // inc/dec [esi]
            let inc = chance(1, in: 2)
            new = (inc ? old &+ 1 : old &- 1) & mask
            op = prefix + [0xFE | wide, inc ? 0x06 : 0x0E]
        case 7 where size > 1:  // bts/btr/btc [esi], imm8
            let bit = pick([0, 1, 2, 5, 6, 8] as [UInt32])
            let which = below(3)
            new = [old | 1 << bit, old & ~(1 << bit), old ^ 1 << bit][which]
            op = prefix + [0x0F, 0xBA, [0x2E, 0x36, 0x3E][which], UInt8(bit)]
        default:
            guard size == 4 && linear & 3 == 0 && linear & 0xFFF != 0xFFC else { return false }
            // cmpxchg8b [esi]: two entries at once, equal half the time.
            let old2 = p.map { peek($0 + 4, size: 4) } ?? 0
            let equal = chance(1, in: 2)
            let (lo, hi) = (pteValue(), pteValue())
            setup += [(0xB8, equal ? old : pteValue()), (0xBA, equal ? old2 : pteValue()), (0xBB, lo), (0xB9, hi)]
            if let p, equal {
                guard store(p, le(lo) + le(hi)) else { return false }
            }
            for (opcode, v) in setup { c.emit([opcode] + le(v)) }
            c.access([0x0F, 0xC7, 0x0E])
            return true
        }
        if let p {
            guard store(p, size: size, value: new) else { return false }
        }
        for (opcode, v) in setup { c.emit([opcode] + le(v)) }
        c.access(op)
        return true
    }

    /// REP STOSD or REP MOVSD into a table, 2–12 dwords (9 or more writes to one table with no
    /// fill through it is a flood), sometimes backwards (DF = 1), sometimes unaligned; a run
    /// near a table's end continues into the next table page.
    mutating func string(_ c: inout StepCode) -> Bool {
        let a = entryAddress() + (chance(1, in: 5) ? UInt32(1 + below(3)) : 0)
        let count = chance(1, in: 3) ? 9 + below(4) : 2 + below(6)
        let backwards = chance(1, in: 6)
        let movs = chance(1, in: 3)
        let source = pick(Layout.tables) + UInt32(below(8)) * 4
        let value = pteValue()
        for i in 0..<count {
            let at = backwards ? a &- UInt32(4 * i) : a &+ UInt32(4 * i)
            let v = movs ? peek(backwards ? source &- UInt32(4 * i) : source &+ UInt32(4 * i), size: 4) : value
            guard store(at, size: 4, value: v) else { return false }
        }
        c.emit([0xBF] + le(a))
        c.emit([0xB9] + le(UInt32(count)))
        if movs { c.emit([0xBE] + le(source)) } else { c.emit([0xB8] + le(value)) }
        if backwards { c.emit([0xFD]) }
        c.emit([0xF3, movs ? 0xA5 : 0xAB], count: count)
        if backwards { c.emit([0xFC]) }
        return true
    }

    /// Pushes with the stack in a table page (ESP set through the identity map, restored at the
    /// end of the step): PUSH imm32, PUSH [entry], CALL (its return address), PUSHAD. Each push
    /// is one store (the emulated path, on a write-protected table); ESP unaligned makes each
    /// straddle two entries, ESP just past a page start makes the first straddle two table pages
    /// (the compare path).
    mutating func push(_ c: inout StepCode) -> Bool {
        let base = Layout.tables[1 + below(Layout.tables.count - 1)]
        var esp: UInt32
        switch below(20) {
        case 0..<12: esp = base + UInt32(below(1024)) * 4
        case 12..<17: esp = base + UInt32(below(4096))
        default: esp = base + UInt32(1 + below(3))
        }
        esp = max(esp, base + 4)
        c.emit([0x89, 0xE5])  // mov ebp, esp
        c.emit([0xBC] + le(esp))
        for _ in 0..<(1 + below(3)) {
            switch below(8) {
            case 0..<4:
                let v = pteValue()
                guard store(esp - 4, size: 4, value: v) else { return false }
                c.emit([0x68] + le(v))
            case 4, 5:
                let a = entryAddress()
                guard store(esp - 4, size: 4, value: peek(a, size: 4)) else { return false }
                c.emit([0xFF, 0x35] + le(a))  // push dword [a]
            case 6:
                // call the next instruction: it pushes its own (even: not present) address.
                if c.bytes.count & 1 == 0 { c.emit([0x90]) }
                guard store(esp - 4, size: 4, value: c.address + 5) else { return false }
                c.emit([0xE8, 0, 0, 0, 0])
            default:
                guard esp & 3 == 0 else { continue }
                let values = (0..<6).map { _ in pteValue() }
                let pushed = [values[0], values[1], values[2], values[3], esp, Layout.stackTop, values[4], values[5]]
                for (i, v) in pushed.enumerated() {
                    guard store(esp - 4 * UInt32(i + 1), size: 4, value: v) else { return false }
                }
                for (i, reg) in [0, 1, 2, 3, 6, 7].enumerated() { c.emit([0xB8 + UInt8(reg)] + le(values[i])) }
                c.emit([0x60])
                esp -= 32
                continue
            }
            esp -= 4
        }
        c.emit([0x89, 0xEC])  // mov esp, ebp
        return true
    }

    /// A page fault taken with the stack in a table page: the CPU pushes EFLAGS, CS, EIP and the
    /// error code there, the handler pushes EAX, adds 6 to the saved EIP (a read-modify-write
    /// there) and returns. Each value is a safe entry: CF clear (not present), CS 8, EIP even,
    /// the error code (frame 0, nothing there), EAX a generated entry.
    mutating func interruptFrame(_ c: inout StepCode) -> Bool {
        var faulting: UInt32? = nil
        for _ in 0..<12 {
            let linear = UInt32(1 + below(3)) << 22 | pageIndex() << 12 | UInt32(below(1024)) * 4
            if translate(linear, write: false, user: false, access: false) == nil { faulting = linear; break }
        }
        guard let linear = faulting else { return false }
        let esp = Layout.tables[0] + 24 + UInt32(below(Layout.tables.count * 1024 - 6)) * 4
        let eax = pteValue()
        for (i, v) in [0x2, 0x8, Layout.code, 0x7, eax].enumerated() {
            guard store(esp - 4 * UInt32(i + 1), size: 4, value: v) else { return false }
        }
        c.emit([0x89, 0xE5])
        c.emit([0xB8] + le(eax))
        c.emit([0xBC] + le(esp))
        c.emit([0xF8])  // clc
        if c.bytes.count & 1 != 0 { c.emit([0x90]) }
        c.access([0x8B, 0x05] + le(linear))
        c.emit([0x89, 0xEC])
        return true
    }

    /// SGDT or SIDT into a table: a 6-byte store checked with `probeWrite` (compare path).
    mutating func farPointer(_ c: inout StepCode) -> Bool {
        let a = entryAddress() + UInt32(below(4))
        let st = reference.cpu.statePointer.pointee
        let idt = chance(1, in: 2)
        let table = idt ? st.idtr : st.gdtr
        let bytes = Array(le(UInt32(table.limit))[0..<2]) + le(table.base)
        guard store(a, bytes) else { return false }
        c.emit([0x0F, 0x01, idt ? 0x0D : 0x05] + le(a))
        return true
    }

    /// One access in slot `slot`: a read, a write (1, 2 or 4 bytes, any alignment within the
    /// page), or a read-modify-write. A write that would be unsafe becomes a read.
    mutating func access(slot: UInt32, page: UInt32, user: Bool, rmwAllowed: Bool, _ c: inout StepCode) {
        let size = chance(3, in: 4) ? 4 : pick([1, 2])
        var offset = entryOffset(slot << 22 | page << 12, user: user)
        if chance(2, in: 5) { offset = min(offset + UInt32(below(4)), 0x1000 - UInt32(size)) }
        let linear = slot << 22 | page << 12 | offset
        switch below(10) {
        case 0..<4:
            break
        case 4..<7:
            let value = pteValue(), saved = pending
            if let p = translate(linear, write: true, user: user), !store(p, size: size, value: value) {
                pending = saved  // a read instead: no D from this walk
                break
            }
            c.emit([0xB8] + le(value))
            switch size {
            case 4: c.access([0x89, 0x05] + le(linear))
            case 2: c.emit([0xBE] + le(linear)); c.access([0x66, 0x89, 0x06])
            default: c.access([0x88, 0x05] + le(linear))
            }
            return
        default:
            guard rmwAllowed else { break }
            let saved = pending
            if rmw(at: translate(linear, write: true, user: user), linear: linear, size: size, &c) { return }
            pending = saved
        }
        c.access([0x8B, 0x05] + le(linear & ~3))
    }

    /// An aligned offset for an access to the page at `linear`: where the page is a paging
    /// structure (through a data alias or a self map), mostly that of an entry the steps use, so
    /// the store changes a translation; elsewhere anywhere.
    mutating func entryOffset(_ linear: UInt32, user: Bool) -> UInt32 {
        if let p = translate(linear, write: false, user: user, access: false), Layout.paging.contains(p & 0xFFFF_F000),
           chance(3, in: 4) {
            return pageIndex() * 4
        }
        return UInt32(below(1024)) * 4
    }

    /// Accesses to 1–8 neighbouring pages of one slot, in ring 0 or ring 3: the first fill of a
    /// group prefetches the entries around it that are present and accessed, and the next
    /// accesses go through those (their A/D bits must come out as on the direct MMU). Writes
    /// stop the group once one reaches a paging structure in use.
    mutating func group(_ c: inout StepCode) -> Bool {
        let slot = UInt32(1 + below(3)), first = UInt32(below(16)), count = 1 + below(8)
        let user = chance(1, in: 3)
        if user { enterUser(&c) }
        for page in first..<min(first + UInt32(count), 16) where !frozen {
            let linear = slot << 22 | page << 12 | entryOffset(slot << 22 | page << 12, user: user)
            if chance(1, in: 4) {
                let value = pteValue(), saved = pending
                if let p = translate(linear, write: true, user: user), !store(p, size: 4, value: value) {
                    pending = saved  // a read instead: no D from this walk
                    c.access([0x8B, 0x05] + le(linear))
                    continue
                }
                c.emit([0xB8] + le(value))
                c.access([0x89, 0x05] + le(linear))
            } else {
                c.access([0x8B, 0x05] + le(linear))
            }
        }
        if user { leaveUser(&c) }
        return true
    }

    /// MOV CR3: a reload, or a switch to another directory. With CR4.PGE the TLB keeps global
    /// translations across the switch (architecturally, the OS keeps them the same in every
    /// address space): the step first invalidates every page whose translation is global now, so
    /// nothing from the old directory can be used in the new one.
    mutating func cr3(_ c: inout StepCode) -> Bool {
        let st = reference.cpu.statePointer.pointee
        let target = pick(Layout.directories)
        if target != st.cr3 & 0xFFFF_F000 && st.cr4 & CR4.pge != 0 {
            let controls = GuestPageWalk.Controls(cpu: reference.cpu)!
            for slot: UInt32 in 1...3 {
                for page in Layout.pages {
                    let linear = slot << 22 | page << 12
                    let w = GuestPageWalk.walk(reference.memory, controls, linear: linear, write: false, user: false)
                    if w.faultCode == nil && w.global { c.emit([0x0F, 0x01, 0x3D] + le(linear)) }
                }
            }
        }
        c.emit([0xB8] + le(target))
        c.emit([0x0F, 0x22, 0xD8])
        return true
    }

    /// IRET to ring 3 (DS made a ring-3 selector first: IRET to an outer ring nulls DS if its
    /// DPL is below the new CPL) at the next instruction.
    func enterUser(_ c: inout StepCode) {
        c.emit([0x66, 0xB9, 0x23, 0x00])  // mov cx, 0x23
        c.emit([0x8E, 0xD9])              // mov ds, cx
        c.emit([0x6A, 0x23])              // push ss
        c.emit([0x68] + le(0x7000))       // push esp (ring 3 never pushes)
        c.emit([0x6A, 0x02])              // push eflags (IF = 0)
        c.emit([0x6A, 0x1B])              // push cs
        c.emit([0x68] + le(c.address + 6))
        c.emit([0xCF])                    // iretd
    }

    /// INT 0x80 back to ring 0; its handler reloads the data segments and ends the step.
    func leaveUser(_ c: inout StepCode) {
        c.emit([0xCD, 0x80])
        c.emit([], count: Layout.ringZeroReturnInstructions)
        c.end = Layout.ringZeroReturnEnd
    }

    // MARK: After a step

    /// Looks at what the step changed in the reference's paging structures (`before` holds
    /// `Layout.paging` as it was): checks the generator kept every entry safe (a message if not),
    /// and prepares the invalidation the next step starts with.
    mutating func afterStep(before: UnsafeRawPointer) -> String? {
        let mem = reference.memory
        let st = reference.cpu.statePointer.pointee
        let current = st.cr3 & 0xFFFF_F000
        let global = st.cr4 & CR4.pge != 0
        let dirBefore = Layout.paging.firstIndex(of: current).map { before + $0 * 4096 }!
        func oldPDE(_ slot: UInt32) -> UInt32 { dirBefore.load(fromByteOffset: Int(slot) * 4, as: UInt32.self) }
        var pages: [UInt32] = []
        for (k, frame) in Layout.paging.enumerated() {
            let old = before + k * 4096, now = mem.ram + Int(frame)
            guard memcmp(old, now, 4096) != 0 else { continue }
            for i in 0..<1024 {
                let o = old.load(fromByteOffset: i * 4, as: UInt32.self)
                let n = now.load(fromByteOffset: i * 4, as: UInt32.self)
                guard o != n else { continue }
                let a = frame + UInt32(i) * 4
                if !Self.safe(a, old: o, new: n) {
                    return "the workload left 0x\(String(n, radix: 16)) at 0x\(String(a, radix: 16)) (was 0x\(String(o, radix: 16)))"
                }
                counts.entriesChanged += 1
                // No TLB entry caches a not-present translation, and setting A or D needs no
                // invalidation (SDM Vol. 3A §4.10.4.3): compared with no help.
                if o & 1 == 0 || n & ~0x60 == o & ~0x60 && n & o == o { continue }
                counts.entriesInvalidated += 1
                let index = UInt32(i)
                // Pages of the current directory translated through this entry as a PTE ...
                for slot: UInt32 in 1...3 where oldPDE(slot) & 0x81 == 0x1 && oldPDE(slot) & 0xFFFF_F000 == frame
                    && Layout.pages.contains(index) {
                    pages.append(slot << 22 | index << 12)
                }
                // ... and, for its own PDEs, the whole slot.
                if frame == current && (1...3).contains(index) {
                    pages += Layout.pages.map { index << 22 | $0 << 12 }
                }
            }
        }
        guard !pages.isEmpty else { return nil }
        var unique: [UInt32] = []
        for p in pages where !unique.contains(p) { unique.append(p) }
        flush = StepCode()
        let invlpg: Bool
        switch flushes {
        case .invlpg: invlpg = true
        case .reload: invlpg = global
        case .mixed: invlpg = global || chance(1, in: 2)
        }
        if invlpg {
            for p in unique { flush.emit([0x0F, 0x01, 0x3D] + le(p)) }
            counts.invlpgFlushes += 1
        } else {
            flush.emit([0x0F, 0x20, 0xDB])  // mov ebx, cr3
            flush.emit([0x0F, 0x22, 0xDB])  // mov cr3, ebx
            counts.reloadFlushes += 1
        }
        return nil
    }
}

/// Machine code for one step, assembled as it is generated.
struct StepCode {
    var bytes: [UInt8] = []
    /// Instructions it retires when nothing faults (every REP iteration counted).
    var instructions = 0
    /// Instructions that may fault into the #PF handler (which runs 10 instructions).
    var faultable = 0
    /// Where the step ends (its `jmp $`), once known.
    var end: UInt32? = nil
    var address: UInt32 { Layout.code + UInt32(bytes.count) }
    /// Enough for the step with a fault at every faultable instruction; the rest spins on `jmp $`.
    var budget: UInt64 { UInt64(instructions + faultable * 12 + 16) }

    mutating func emit(_ b: [UInt8], count: Int = 1) { bytes += b; instructions += count }

    /// An access that may fault: the #PF handler resumes 6 bytes past the instruction's start,
    /// so it is padded with NOPs to 6 bytes.
    mutating func access(_ b: [UInt8]) {
        precondition(b.count <= 6)
        emit(b)
        for _ in b.count..<6 { emit([0x90]) }
        faultable += 1
    }
}

func le(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
func le32(_ b: [UInt8]) -> UInt32 { b.enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) } }
