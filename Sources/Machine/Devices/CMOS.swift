/// STUB (helper A fills in): MC146818 CMOS/RTC at 0x70/0x71.
public struct RTCDateTime: Equatable, Sendable {
    public var year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int
    public init(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) {
        self.year = year; self.month = month; self.day = day
        self.hour = hour; self.minute = minute; self.second = second
    }
    /// x86v's default boot date.
    public static let defaultStart = RTCDateTime(year: 2000, month: 1, day: 1, hour: 0, minute: 0, second: 0)
    /// "YYYY-MM-DDTHH:MM:SS" (or "YYYY-MM-DD"), nil if malformed.
    public static func parse(_ text: String) -> RTCDateTime? { nil }
}

public final class CMOS: PortDevice, ClockedDevice {
    public init(clock: VirtualClock, lines: InterruptLines, start: RTCDateTime, memorySize: Int) {}
    public private(set) var nmiMasked = true
    public func read(port: UInt16, size: Int) -> UInt32 { 0xFF }
    public func write(port: UInt16, size: Int, value: UInt32) {}
    public func nextDeadline() -> UInt64? { nil }
    public func tick(now: UInt64) {}
}
