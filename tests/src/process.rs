//! Running executables in tests: spawn, type into stdin, wait for output lines.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(15);

/// A running executable whose stdout and stderr lines are collected.
pub struct Proc {
    pub child: Child,
    stdin: Option<ChildStdin>,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    pub fn spawn(exe: &str, args: &[&str]) -> Proc {
        Self::spawn_with_env(exe, args, &[])
    }

    /// Like [`Proc::spawn`], with environment variables set for the process.
    pub fn spawn_with_env(exe: &str, args: &[&str], env: &[(&str, &str)]) -> Proc {
        let mut child = Command::new(exe)
            .args(args)
            .env("LOCI_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let outputs: Vec<Box<dyn std::io::Read + Send>> =
            vec![Box::new(child.stdout.take().unwrap()), Box::new(child.stderr.take().unwrap())];
        for output in outputs {
            let lines = Arc::clone(&lines);
            thread::spawn(move || {
                for line in BufReader::new(output).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            });
        }
        let stdin = child.stdin.take();
        Proc { child, stdin, lines }
    }

    pub fn say(&mut self, line: &str) {
        writeln!(self.stdin.as_mut().unwrap(), "{line}").unwrap();
    }

    pub fn find(&self, needle: &str) -> Option<String> {
        self.lines.lock().unwrap().iter().find(|line| line.contains(needle)).cloned()
    }

    pub fn count(&self, needle: &str) -> usize {
        self.lines.lock().unwrap().iter().filter(|line| line.contains(needle)).count()
    }

    pub fn wait_for(&self, needle: &str) -> String {
        self.wait_for_count(needle, 1);
        self.find(needle).unwrap()
    }

    pub fn wait_for_count(&self, needle: &str, count: usize) {
        let deadline = Instant::now() + WAIT;
        while self.count(needle) < count {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {count}× {needle:?}; output so far:\n{}",
                self.output()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn output(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                thread::sleep(Duration::from_millis(100));
                return status;
            }
            assert!(Instant::now() < deadline, "process did not exit; output:\n{}", self.output());
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
