//! The process-wide budget for partly received large frames, in a test binary of its own:
//! the budget is shared by every instance of a process, and this test makes it small.

use std::time::Duration;

use bytes::BytesMut;
use loci::wire::{encode_frame, Header};
use loci_tests::cluster::JobManager;
use loci_tests::raw::{hello_frame_of, raw_connection, stall_inside_a_frame};
use loci_tests::{credentials, listening, Spawned};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// Reads frames off `recv` until a reply; its header.
async fn next_reply(recv: &mut quinn::RecvStream) -> Header {
    loop {
        let mut len = [0u8; 4];
        recv.read_exact(&mut len).await.unwrap();
        let mut frame = vec![0u8; u32::from_be_bytes(len) as usize];
        recv.read_exact(&mut frame).await.unwrap();
        let (header, _) = loci::wire::decode_frame(&frame).unwrap();
        if let Header::Reply { .. } = header {
            return header;
        }
    }
}

#[test]
fn a_large_frame_waits_for_the_partial_frame_budget_that_another_one_holds() {
    let creds = credentials("frame-budget");
    // Room for one 100 KiB frame at a time; a held one is given up after 1 s.
    let jm = Spawned::start(
        listening::<JobManager>(&creds, "jm")
            .partial_frame_budget_bytes(128 << 10)
            .frame_deadline(Duration::from_secs(1)),
    );
    const LEN: usize = 100 << 10;
    let waited = runtime().block_on(async {
        // The first remote starts a 100 KiB frame and never finishes it.
        let holder = stall_inside_a_frame(&creds, jm.addr, 1, LEN, &[0; 1000]).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        // The second sends a whole 100 KiB call (of an item that does not exist: it is answered
        // with a failure), which can be read only once the first frame's budget is back.
        let (_endpoint, connection) = raw_connection(&creds, jm.addr).await;
        let (mut send, mut recv) = connection.open_bi().await.unwrap();
        send.write_all(&hello_frame_of(1, 2)).await.unwrap();
        let mut call = BytesMut::new();
        encode_frame(&mut call, &Header::Call { id: 1, item: 999 }, &vec![0u8; LEN - 16]).unwrap();
        let sent = std::time::Instant::now();
        send.write_all(&call).await.unwrap();
        let reply = next_reply(&mut recv).await;
        assert!(matches!(reply, Header::Reply { id: 1, .. }), "{reply:?}");
        let waited = sent.elapsed();
        drop(holder);
        waited
    });
    // The holder's deadline is 1.1 s from its first bytes; the call waited for it.
    assert!(waited >= Duration::from_millis(700), "the call was read after {waited:?}, before the budget was free");
}
