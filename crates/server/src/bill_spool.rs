//! A bill on its way out. A day of a million orders is some 350 MB of text, so a bill is never held in
//! memory: the platform writes it a page of lines at a time into a `Spool`, which gzips it when asked,
//! hashes it as it goes (the SHA-1 of the text that WeChat's answers carry, and the SHA-256 message a
//! signed answer signs) and keeps it in an unlinked temporary file, which the answer then streams.

use axum::body::{Body, Bytes};
use std::fs::File;
use std::io::{BufWriter, Read, Seek, Write};

/// Bytes read from the spool per chunk of the answer's body.
const CHUNK_BYTES: usize = 256 * 1024;
/// The temporary file's write buffer.
const BUFFER_BYTES: usize = 256 * 1024;

/// The temporary file a bill is spooled to could not be made or written (a full disk, say).
pub fn failed(e: std::io::Error) -> platform::PlatformError {
    platform::PlatformError::Internal(format!("spooling a bill: {e}"))
}

/// The SHA-1 of a text written to it, and nothing kept (a bill link's `hash_value`).
pub struct Sha1Sink(aws_lc_rs::digest::Context);

impl Sha1Sink {
    pub fn new() -> Sha1Sink {
        Sha1Sink(aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY))
    }

    pub fn hex(self) -> String {
        crate::http::hex(self.0.finish().as_ref())
    }
}

impl Default for Sha1Sink {
    fn default() -> Sha1Sink {
        Sha1Sink::new()
    }
}

impl Write for Sha1Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The bytes that go out: the file, the signed message's digest and the length.
struct Sent {
    file: BufWriter<File>,
    signed: Option<wxpay::StreamedMessage>,
    len: u64,
}

impl Write for Sent {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        if let Some(signed) = &mut self.signed {
            signed.update(&buf[..n]);
        }
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

enum Encoding {
    Plain(Sent),
    Gzip(flate2::write::GzEncoder<Sent>),
}

/// Where a bill is written: text in, (maybe gzipped) bytes to a temporary file.
pub struct Spool {
    text_sha1: Sha1Sink,
    out: Encoding,
}

/// A spooled bill, ready to send.
pub struct Spooled {
    /// The SHA-1 of the uncompressed text.
    pub text_sha1: String,
    /// The signing message over the bytes sent, when the spool was asked to sign.
    pub signed: Option<wxpay::StreamedMessage>,
    /// The bytes sent (the `Content-Length`).
    pub len: u64,
    file: File,
}

/// A file no other process can open and that is gone when closed: created private, unlinked at once.
fn anonymous_file() -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut name = [0u8; 12];
    wxpay::random_fill(&mut name);
    let path = std::env::temp_dir().join(format!("qianbao-bill-{}", crate::http::hex(&name)));
    let file = File::options().read(true).write(true).create_new(true).mode(0o600).open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(file)
}

impl Spool {
    /// `signed`: the signing message to feed with the bytes sent (`None`: an unsigned download).
    pub fn new(gzip: bool, signed: Option<wxpay::StreamedMessage>) -> std::io::Result<Spool> {
        let sent = Sent { file: BufWriter::with_capacity(BUFFER_BYTES, anonymous_file()?), signed, len: 0 };
        let out = match gzip {
            true => Encoding::Gzip(flate2::write::GzEncoder::new(sent, flate2::Compression::default())),
            false => Encoding::Plain(sent),
        };
        Ok(Spool { text_sha1: Sha1Sink::new(), out })
    }

    pub fn finish(self) -> std::io::Result<Spooled> {
        let sent = match self.out {
            Encoding::Plain(sent) => sent,
            Encoding::Gzip(gz) => gz.finish()?,
        };
        let Sent { file, signed, len } = sent;
        let mut file = file.into_inner().map_err(|e| e.into_error())?;
        file.rewind()?;
        Ok(Spooled { text_sha1: self.text_sha1.hex(), signed, len, file })
    }
}

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = match &mut self.out {
            Encoding::Plain(sent) => sent.write(buf)?,
            Encoding::Gzip(gz) => gz.write(buf)?,
        };
        self.text_sha1.0.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.out {
            Encoding::Plain(sent) => sent.flush(),
            Encoding::Gzip(gz) => gz.flush(),
        }
    }
}

impl Spooled {
    /// The file as a streamed body, a chunk at a time off the runtime's threads.
    pub fn into_body(self) -> Body {
        let chunks = futures_util::stream::unfold(Some(self.file), |file| async move {
            let mut file = file?;
            let read = tokio::task::spawn_blocking(move || {
                let mut chunk = vec![0u8; CHUNK_BYTES];
                let n = file.read(&mut chunk)?;
                chunk.truncate(n);
                Ok::<_, std::io::Error>((chunk, file))
            })
            .await
            .map_err(std::io::Error::other);
            match read {
                Ok(Ok((chunk, _))) if chunk.is_empty() => None,
                Ok(Ok((chunk, file))) => Some((Ok(Bytes::from(chunk)), Some(file))),
                Ok(Err(e)) | Err(e) => Some((Err(e), None)),
            }
        });
        Body::from_stream(chunks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_spooled_text_comes_back_whole_with_its_sha1_and_the_signature_of_what_is_sent() {
        let key = wxpay::SigningKey::generate();
        let text = "`a,`b\n".repeat(100_000);
        for gzip in [false, true] {
            let mut spool = Spool::new(gzip, Some(wxpay::StreamedMessage::new(1, "n"))).unwrap();
            spool.write_all(text.as_bytes()).unwrap();
            let mut spooled = spool.finish().unwrap();
            let mut sent = Vec::new();
            spooled.file.read_to_end(&mut sent).unwrap();
            assert_eq!(sent.len() as u64, spooled.len);
            let expected = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, text.as_bytes());
            assert_eq!(spooled.text_sha1, crate::http::hex(expected.as_ref()));
            let signature = key.sign_streamed(spooled.signed.take().unwrap());
            assert_eq!(signature, key.sign(&wxpay::response_message(1, "n", &sent)));
            let unpacked = match gzip {
                false => sent,
                true => {
                    let mut out = Vec::new();
                    flate2::read::GzDecoder::new(&sent[..]).read_to_end(&mut out).unwrap();
                    out
                }
            };
            assert_eq!(unpacked, text.as_bytes());
        }
    }
}
