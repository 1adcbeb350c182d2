//! A service in the shape of the user's story: its global allocator is jemalloc, through
//! jemalloc-sys (links = "jemalloc"), and it wants jemalloc's arenas for its requests. A second
//! crate linking jemalloc would not build (../conflict); catmem links none and binds at run
//! time to the jemalloc already in the process, so the service gets:
//! - per-request arenas: one per worker, a child of the built-in request arena, capped at
//!   1 MiB, reset after every request (a request asking for more gets 413, not an abort);
//! - a long-lived sessions arena shared by the workers;
//! and checks that they are jemalloc's own arenas: jemalloc's arenas.lookup puts their blocks
//! in them, and catmem's statistics agree with jemalloc's. It prints the backend catmem bound
//! to and the statistics of every arena, and exits with 1 if anything disagrees.
//!
//!     cargo run -p service [-- REQUESTS_PER_WORKER]
use catmem::{Arena, ErrorKind, Kind, Stats};
use service::containers::ArenaVec;
use service::jemalloc::{self, Jemalloc};
use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Mutex;

#[global_allocator]
static GLOBAL: Jemalloc = Jemalloc;

const WORKERS: usize = 2;
const REQUEST_LIMIT: usize = 1 << 20;

type Sessions<'s> = Mutex<HashMap<u32, ArenaVec<'s, u8>>>;

/// One arena's figures at one moment: catmem's and jemalloc's.
#[derive(Clone)]
struct Row {
    name: String,
    id: u32, // the jemalloc arena the arena's blocks are in (catmem's own id is another number)
    catmem: Stats,
    jemalloc: Option<usize>,
    block_in_arena: bool,
}

impl Row {
    /// Reads both sides; `block` is a live block of the arena, for jemalloc's lookup.
    fn read(arena: &Arena<'_>, block: *const u8) -> catmem::Result<Row> {
        let catmem = arena.stats()?; // first: it gives back this thread's cached blocks
        let found = jemalloc::arena_of(block);
        let id = found.unwrap_or(u32::MAX);
        Ok(Row {
            name: arena.name(),
            id,
            catmem,
            jemalloc: found.and_then(jemalloc::arena_allocated),
            // a manual arena of catmem's, not one of jemalloc's automatic ones
            block_in_arena: found
                .map_or(false, |i| i >= jemalloc::narenas_automatic().unwrap_or(u32::MAX)),
        })
    }

    fn agrees(&self) -> bool {
        self.block_in_arena && self.jemalloc == Some(self.catmem.allocated)
    }
}

struct Worker {
    served: usize,
    refused: usize,
    during_last_request: Row,
    after_last_reset: Stats,
}

/// The request `i` of a worker: a path, a user and how many 64-byte records it wants (`huge`:
/// more than the request limit allows).
fn request_text(worker: usize, i: usize, huge: bool) -> String {
    let n = if huge { 100_000 } else { 1 + (i * 7 + worker) % 200 };
    format!("GET /items/{}?user={}&n={}&lang=en HTTP/1.1", i, (i * 31 + worker) % 97, n)
}

/// Serves one request in `req`: everything it allocates is in that arena. Returns the status,
/// and a snapshot of the arena while the request's memory is live when `snapshot` is set.
fn handle<'s>(
    req: &Arena<'_>,
    sessions: &'s Arena<'static>,
    table: &Sessions<'s>,
    text: &str,
    snapshot: bool,
) -> catmem::Result<(u16, Option<Row>)> {
    let alloc = req.allocator();
    let line = ArenaVec::try_from_str(alloc, text)?;
    let target = line.as_str().split(' ').nth(1).unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut params = ArenaVec::new(alloc);
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        params.try_push((ArenaVec::try_from_str(alloc, k)?, ArenaVec::try_from_str(alloc, v)?))?;
    }
    let param =
        |name: &str| params.iter().find(|(k, _)| k.as_str() == name).map(|(_, v)| v.as_str());
    let user: u32 = param("user").and_then(|u| u.parse().ok()).unwrap_or(0);
    let n: usize = param("n").and_then(|n| n.parse().ok()).unwrap_or(1);

    // The response: n records, built in the request's arena. Past its limit: 413.
    let mut body = ArenaVec::new(alloc);
    if let Err(e) = body.try_reserve(n * 64) {
        return match e.kind() {
            ErrorKind::OutOfMemory => Ok((413, None)),
            _ => Err(e),
        };
    }
    for r in 0..n {
        let record = format!("{{\"item\":\"{}\",\"record\":{:6}}}\n", path, r);
        body.try_extend_from_slice(&record.as_bytes()[..record.len().min(64)])?;
    }
    // The session outlives the request: a copy of the path in the sessions arena.
    let last = ArenaVec::try_from_str(sessions.allocator(), path)?;
    table.lock().unwrap().insert(user, last);

    let row = if snapshot { Some(Row::read(req, body.as_ptr())?) } else { None };
    Ok((200, row))
}

fn serve<'s>(
    worker: usize,
    requests: usize,
    parent: &Arena<'static>,
    sessions: &'s Arena<'static>,
    table: &Sessions<'s>,
) -> catmem::Result<Worker> {
    let mut req = parent.child(Some(&format!("req.w{}", worker)))?;
    req.set_limit(Some(REQUEST_LIMIT))?;
    let (mut served, mut refused, mut during_last_request) = (0, 0, None);
    for i in 0..requests {
        // Now and then a request that asks too much; never the last, which takes the snapshot.
        let last = i + 1 == requests;
        let text = request_text(worker, i, i % 500 == 250 && !last);
        let (status, row) = handle(&req, sessions, table, &text, last)?;
        match status {
            200 => served += 1,
            _ => refused += 1,
        }
        during_last_request = row.or(during_last_request);
        req.reset()?; // the whole request's memory, in one call
    }
    let after_last_reset = req.stats()?;
    let during_last_request = during_last_request.expect("a last request");
    Ok(Worker { served, refused, during_last_request, after_last_reset })
}

fn print_row(row: &Row) {
    let je = row.jemalloc.map_or("?".to_string(), |b| b.to_string());
    println!(
        "  {:<10} {:>8} {:>11} {:>11} {:>9} {:>9} {:>9}  {}",
        row.name,
        row.id,
        row.catmem.allocated,
        je,
        row.catmem.nmalloc,
        row.catmem.ndalloc,
        row.catmem.peak,
        if row.agrees() { "yes" } else { "NO" }
    );
}

fn run(requests: usize) -> catmem::Result<bool> {
    catmem::init()?;
    println!("catmem backend: {} ({})", catmem::backend_name(), catmem::backend_info());
    if catmem::backend_name() != "jemalloc" {
        println!(
            "catmem did not find jemalloc-sys's jemalloc {}: are its _rjem_ symbols exported \
                  (build.rs)?",
            jemalloc::version()
        );
        return Ok(false);
    }
    let boxed = Box::new([0u8; 100]);
    let global_arena = jemalloc::arena_of(boxed.as_ptr());
    let where_ = global_arena
        .map_or("in no arena jemalloc knows".to_string(), |g| format!("in its arena {}", g));
    println!(
        "global allocator: jemalloc-sys's jemalloc {}; a Box of the program is {}",
        jemalloc::version(),
        where_
    );

    let sessions = Arena::new(Some("sessions"))?;
    let table: Sessions<'_> = Mutex::new(HashMap::new());
    let parent = Arena::builtin(Kind::Request)?;
    let workers = std::thread::scope(|s| {
        let handles: Vec<_> = (0..WORKERS)
            .map(|w| {
                let (sessions, table) = (&sessions, &table);
                s.spawn(move || serve(w, requests, parent, sessions, table))
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("worker")).collect::<catmem::Result<Vec<_>>>()
    })?;

    let served: usize = workers.iter().map(|w| w.served).sum();
    let refused: usize = workers.iter().map(|w| w.refused).sum();
    println!(
        "served {} requests on {} workers, {} refused (413) past the {} MiB request limit; \
              each worker's request arena reset after every request",
        served + refused,
        WORKERS,
        refused,
        REQUEST_LIMIT >> 20
    );
    println!(
        "  {:<10} {:>8} {:>11} {:>11} {:>9} {:>9} {:>9}  {}",
        "arena", "jemalloc", "allocated", "jemalloc's", "nmalloc", "ndalloc", "peak", "agree"
    );
    let mut rows: Vec<Row> = workers.iter().map(|w| w.during_last_request.clone()).collect();
    {
        let table = table.lock().unwrap();
        let block = table.values().next().map_or(std::ptr::null(), |v| v.as_ptr());
        rows.push(Row::read(&sessions, block)?);
    }
    for row in &rows {
        print_row(row);
    }
    println!("  (request arenas during their last request; sessions at the end)");
    let mut ok = rows.iter().all(Row::agrees);
    for (w, worker) in workers.iter().enumerate() {
        let st = &worker.after_last_reset;
        println!(
            "req.w{} after its last reset: allocated {}, nmalloc {} = ndalloc {}",
            w, st.allocated, st.nmalloc, st.ndalloc
        );
        ok &= st.allocated == 0 && st.nmalloc == st.ndalloc;
    }
    // The global allocator's arena is one of jemalloc's automatic arenas, not catmem's.
    ok &= global_arena.map_or(false, |g| rows.iter().all(|r| r.id != g));
    println!("jemalloc has {} arenas", jemalloc::narenas().unwrap_or(0));
    drop(table); // the sessions, before their arena
    Ok(ok)
}

fn main() -> ExitCode {
    let requests = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(2000).max(1);
    match run(requests) {
        Ok(true) => {
            println!(
                "ok: catmem's arenas are jemalloc arenas of the global allocator's jemalloc, \
                      and their statistics agree with jemalloc's own"
            );
            ExitCode::SUCCESS
        }
        Ok(false) => {
            println!("FAILED: see above");
            ExitCode::FAILURE
        }
        Err(e) => {
            println!("FAILED: {}", e);
            ExitCode::FAILURE
        }
    }
}
