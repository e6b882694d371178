import X86Decode

/// A decoded instruction seen through a pointer into the decoded-instruction cache. Handlers
/// take this instead of a 24-byte value: each reads only the fields it needs, straight from the
/// cache line, instead of the whole struct being copied into registers (and spilled) for every
/// instruction. The slot cannot change while its instruction executes: only a fetch decodes.
struct InstructionRef {
    let pointer: UnsafePointer<DecodedInstruction>
    @inline(__always) init(_ pointer: UnsafePointer<DecodedInstruction>) { self.pointer = pointer }

    @inline(__always) var pointee: DecodedInstruction { pointer.pointee }
    @inline(__always) var length: UInt8 { pointer.pointee.length }
    @inline(__always) var prefixes: Prefixes { pointer.pointee.prefixes }
    @inline(__always) var segment: SegmentOverride { pointer.pointee.segment }
    @inline(__always) var modrm: UInt8 { pointer.pointee.modrm }
    @inline(__always) var sib: UInt8 { pointer.pointee.sib }
    @inline(__always) var displacement: UInt32 { pointer.pointee.displacement }
    @inline(__always) var immediate: UInt32 { pointer.pointee.immediate }
    @inline(__always) var immediate2: UInt32 { pointer.pointee.immediate2 }
    @inline(__always) var opcode: UInt8 { pointer.pointee.opcode }
    @inline(__always) var map: UInt8 { pointer.pointee.map }
    @inline(__always) var operandSize32: Bool { pointer.pointee.operandSize32 }
    @inline(__always) var addressSize32: Bool { pointer.pointee.addressSize32 }
    @inline(__always) var reg: UInt8 { (pointer.pointee.modrm >> 3) & 7 }
}
