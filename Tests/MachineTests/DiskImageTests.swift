import Testing
import X86Core
import Machine
#if canImport(Glibc)
import Glibc
#endif

/// A temporary file of `sectors` sectors, sector n filled with the byte n & 0xFF (deleted by
/// `remove`).
struct TempDisk {
    let path: String

    init(sectors: Int, extraBytes: Int = 0) {
        var template = Array("/tmp/x86v-disk-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        precondition(fd >= 0)
        path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        var bytes: [UInt8] = []
        for n in 0..<sectors { bytes += [UInt8](repeating: UInt8(n & 0xFF), count: 512) }
        bytes += [UInt8](repeating: 0xEE, count: extraBytes)
        _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    func contents() -> [UInt8] {
        let f = fopen(path, "rb")!
        defer { fclose(f) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, 4096, f) }
            if n == 0 { break }
            out += chunk[0..<n]
        }
        return out
    }

    func remove() { unlink(path) }
}

@Test func diskImageReadsAndWritesWholeSectors() throws {
    let t = TempDisk(sectors: 8)
    defer { t.remove() }
    let d = try DiskImage(path: t.path)
    #expect(d.sectorCount == 8)
    var buf = [UInt8](repeating: 0, count: 1024)
    #expect(buf.withUnsafeMutableBytes { d.read(lba: 3, count: 2, into: $0) })
    #expect(buf[0] == 3 && buf[511] == 3 && buf[512] == 4 && buf[1023] == 4)
    let new = [UInt8](repeating: 0x77, count: 512)
    #expect(new.withUnsafeBytes { d.write(lba: 7, count: 1, from: $0) })
    #expect(d.flush())
    #expect(Array(t.contents()[7 * 512..<8 * 512]) == new)
    // Past the end, or straddling it: refused, nothing written.
    #expect(!new.withUnsafeBytes { d.write(lba: 8, count: 1, from: $0) })
    #expect(!buf.withUnsafeMutableBytes { d.read(lba: 7, count: 2, into: $0) })
    #expect(t.contents().count == 8 * 512)
}

@Test func snapshotDiskKeepsWritesInMemory() throws {
    let t = TempDisk(sectors: 4)
    defer { t.remove() }
    let before = t.contents()
    let d = try DiskImage(path: t.path, snapshot: true)
    let new = [UInt8](repeating: 0x5A, count: 1024)
    #expect(new.withUnsafeBytes { d.write(lba: 1, count: 2, from: $0) })
    var buf = [UInt8](repeating: 0, count: 2048)
    #expect(buf.withUnsafeMutableBytes { d.read(lba: 0, count: 4, into: $0) })
    #expect(buf[0] == 0 && buf[512] == 0x5A && buf[1535] == 0x5A && buf[1536] == 3)
    #expect(d.overlay.count == 2)
    #expect(d.flush())
    d.close()
    #expect(t.contents() == before)
}

@Test func readOnlyDiskRefusesWrites() throws {
    let t = TempDisk(sectors: 2)
    defer { t.remove() }
    let before = t.contents()
    let d = try DiskImage(path: t.path, readOnly: true)
    let new = [UInt8](repeating: 1, count: 512)
    #expect(!new.withUnsafeBytes { d.write(lba: 0, count: 1, from: $0) })
    #expect(t.contents() == before)
}

@Test func diskImageOpenErrorsAreClear() {
    let t = TempDisk(sectors: 1, extraBytes: 488)  // 1000 bytes
    defer { t.remove() }
    #expect(throws: DiskImage.OpenError.self) { try DiskImage(path: t.path) }
    do { _ = try DiskImage(path: t.path) } catch { #expect(error.description.contains("1000 bytes is not a whole number of 512-byte sectors")) }
    do { _ = try DiskImage(path: "/nonexistent/disk.img") } catch { #expect(error.description.contains("No such file")) }
    let empty = TempDisk(sectors: 0)
    defer { empty.remove() }
    #expect(throws: DiskImage.OpenError.self) { try DiskImage(path: empty.path) }
    #expect(throws: DiskImage.OpenError.self) { try DiskImage(path: "/tmp") }
}

@Test func aClosedDiskFailsInsteadOfCrashing() throws {
    let t = TempDisk(sectors: 2)
    defer { t.remove() }
    let d = try DiskImage(path: t.path)
    d.close()
    var buf = [UInt8](repeating: 0, count: 512)
    #expect(!buf.withUnsafeMutableBytes { d.read(lba: 0, count: 1, into: $0) })
    #expect(!buf.withUnsafeBytes { d.write(lba: 0, count: 1, from: $0) })
    #expect(!d.flush())
}

@Test func driveSpecParsing() throws {
    #expect(try DriveSpec.parse("fs.img") == DriveSpec(path: "fs.img"))
    #expect(try DriveSpec.parse("fs.img,index=1") == DriveSpec(path: "fs.img", index: 1))
    #expect(try DriveSpec.parse("a,,b.img,readonly,snapshot=on") == DriveSpec(path: "a,b.img", readOnly: true, snapshot: true))
    #expect(try DriveSpec.parse("file=x.img,index=3,format=raw,media=disk,if=ide,snapshot=off") == DriveSpec(path: "x.img", index: 3))
    for bad in ["", "x.img,index=4", "x.img,index=-1", "x.img,index=", "x.img,cache=none", "x.img,readonly=maybe",
                ",index=0", "x.img,format=qcow2"] {
        #expect(throws: DriveSpec.ParseError.self) { try DriveSpec.parse(bad) }
    }
    let assigned = try DriveSpec.assignIndices([DriveSpec(path: "a"), DriveSpec(path: "b", index: 0), DriveSpec(path: "c")])
    #expect(assigned.map(\.index) == [1, 0, 2])
    #expect(throws: DriveSpec.ParseError.self) {
        try DriveSpec.assignIndices([DriveSpec(path: "a", index: 2), DriveSpec(path: "b", index: 2)])
    }
    #expect(throws: DriveSpec.ParseError.self) {
        try DriveSpec.assignIndices((0..<5).map { DriveSpec(path: "d\($0)") })
    }
}
