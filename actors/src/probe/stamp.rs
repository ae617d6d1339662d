//! Arrival stamps: the kernel's clock reading when a segment reached a socket
//! (`SO_TIMESTAMPNS`), read with `recvmsg`. The probe uses them to see how long
//! requests waited for their turn; the load generator, to time replies from their
//! arrival instead of from when it got round to reading them.

use std::io;
use std::os::fd::AsRawFd;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::Interest;
use tokio::net::TcpStream;

/// Asks the kernel to stamp what `stream` receives (`SO_TIMESTAMPNS`); a failure only
/// leaves the reads unstamped.
pub fn enable_timestamps(stream: &TcpStream) {
    let on: libc::c_int = 1;
    // SAFETY: the descriptor is the stream's own and open; the option value is a
    // c_int that outlives the call, and its size is passed with it.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// Reads into `buf` with `recvmsg` (as `try_read` does with `recv`, clearing the
/// readiness on `WouldBlock`); answers the bytes read and the arrival stamp of the
/// last segment read, if the kernel gave one.
pub fn recv_stamped(stream: &TcpStream, buf: &mut [u8]) -> io::Result<(usize, Option<SystemTime>)> {
    stream.try_io(Interest::READABLE, || {
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // Room for one timestamp control message, aligned for `cmsghdr`.
        let mut control = [0u64; 8];
        // SAFETY: an all-zero msghdr is a valid empty one.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        // SAFETY: msg points at one iovec over `buf` and at `control`, both alive and
        // of the lengths given, for the duration of the call.
        let n = unsafe { libc::recvmsg(stream.as_raw_fd(), &mut msg, 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut stamp = None;
        // SAFETY: the CMSG_* walk stays within msg_control/msg_controllen, which the
        // kernel set to the control messages it wrote into `control`.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_SOCKET
                    && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS
                {
                    let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                    stamp = Some(UNIX_EPOCH + Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32));
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
        }
        Ok((n as usize, stamp))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stamped_reads_over_loopback() {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        enable_timestamps(&server);
        // The kernel turns arrival stamps on for the whole system lazily (a deferred
        // static key), so the first segments after the first request may go unstamped:
        // a read may carry no stamp, and a later one must.
        let mut stamped = None;
        for _ in 0..100 {
            client.write_all(b"hello").await.unwrap();
            let mut buf = [0u8; 16];
            let (n, stamp) = tokio::time::timeout(Duration::from_secs(10), async {
                loop {
                    server.readable().await.unwrap();
                    match recv_stamped(&server, &mut buf) {
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                        other => break other.unwrap(),
                    }
                }
            })
            .await
            .unwrap();
            assert_eq!(&buf[..n], b"hello");
            if stamp.is_some() {
                stamped = stamp;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let stamp = stamped.expect("the kernel stamps a socket that asked, within 100 reads");
        let age = SystemTime::now().duration_since(stamp).unwrap();
        assert!(age < Duration::from_secs(10), "{age:?}");
    }
}
