import X86Core

/// Checked reads for device state: a value outside what the device can ever hold is a corrupt
/// snapshot, reported with the field's name, never stored (a bad mode or a zero count would trap
/// later, far from the cause).
extension StateReader {
    /// A value that must satisfy `valid`.
    mutating func get<T: FixedWidthInteger>(
        _ field: @autoclosure () -> String, _: T.Type = T.self, where valid: (T) -> Bool
    ) throws(StateError) -> T {
        let at = offset
        let v: T = try get()
        guard valid(v) else { throw StateError("snapshot corrupt: \(field()) = \(v) at byte \(at)") }
        return v
    }

    /// An optional value that, when present, must satisfy `valid`.
    mutating func getOptional<T: FixedWidthInteger>(
        _ field: @autoclosure () -> String, _: T.Type = T.self, where valid: (T) -> Bool
    ) throws(StateError) -> T? {
        guard try getBool() else { return nil }
        return try get(field(), T.self, where: valid)
    }

    /// A value with no bits outside `mask`.
    mutating func get<T: FixedWidthInteger>(_ field: @autoclosure () -> String, mask: T) throws(StateError) -> T {
        try get(field(), T.self) { $0 & ~mask == 0 }
    }
}
