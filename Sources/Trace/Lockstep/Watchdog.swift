#if canImport(Glibc)
import Glibc
#endif

/// Stops the producers when the diff has consumed no step for `seconds` (a side whose guest
/// sleeps forever would otherwise leave the diff waiting on its FIFO): killing them ends both
/// streams, so the diff returns.
final class Watchdog: @unchecked Sendable {
    /// Steps consumed (the diff increments it; the watchdog thread reads it).
    let counter: UnsafeMutablePointer<Int>
    let flags: UnsafeMutablePointer<Int>  // [0]: stop requested, [1]: fired
    var thread: pthread_t? = nil

    init(seconds: Double, pids: [pid_t]) {
        counter = .allocate(capacity: 1)
        counter.initialize(to: 0)
        flags = .allocate(capacity: 2)
        flags.initialize(repeating: 0, count: 2)
        let context = Context(counter: counter, flags: flags, seconds: seconds, pids: pids)
        let box = Unmanaged.passRetained(context).toOpaque()
        var t = pthread_t()
        if pthread_create(&t, nil, { raw in
            let c = Unmanaged<Context>.fromOpaque(raw!).takeRetainedValue()
            c.watch()
            return nil
        }, box) == 0 {
            thread = t
        } else {
            Unmanaged<Context>.fromOpaque(box).release()
        }
    }

    var fired: Bool { flags[1] != 0 }

    func stop() {
        flags[0] = 1
        if let t = thread { pthread_join(t, nil); thread = nil }
    }

    deinit {
        stop()
        counter.deallocate()
        flags.deallocate()
    }

    final class Context {
        let counter: UnsafeMutablePointer<Int>
        let flags: UnsafeMutablePointer<Int>
        let seconds: Double
        let pids: [pid_t]
        init(counter: UnsafeMutablePointer<Int>, flags: UnsafeMutablePointer<Int>, seconds: Double, pids: [pid_t]) {
            self.counter = counter; self.flags = flags; self.seconds = seconds; self.pids = pids
        }

        func watch() {
            var last = -1
            var idle = 0.0
            while flags[0] == 0 {
                usleep(100_000)
                let now = counter.pointee
                if now != last { last = now; idle = 0; continue }
                idle += 0.1
                if idle >= seconds {
                    flags[1] = 1
                    for p in pids { kill(p, SIGKILL) }
                    return
                }
            }
        }
    }
}
