//! Reading a QR code out of a picture the wallet uploads: a phone's camera photo (JPEG) or a
//! screenshot (PNG). The picture is hostile until decoded: its size in bytes and in pixels is bounded
//! before any pixel is decoded (a small file may claim a huge image), large pictures are sampled down
//! to a size the finder reads well, and only the first code found is returned.

/// The largest upload read (a 12-megapixel phone photo is 3–6 MB).
pub const IMAGE_BYTES_MAX: usize = 8 * 1024 * 1024;
/// The largest picture decoded, in pixels (6000 × 4000): past this a file is refused unread.
const PIXELS_MAX: usize = 24_000_000;
/// The longest side the finder is given: a code filling a tenth of a photo is still ~100 px across,
/// and the finder's time grows with the pixels.
const SIDE_PX_MAX: usize = 1600;

/// Why no code came out of a picture (each names what the person can do).
#[derive(Debug, PartialEq, Eq)]
pub enum Unreadable {
    NotAPicture,
    TooLarge,
    NoCode,
}

impl Unreadable {
    pub fn message(&self) -> &'static str {
        match self {
            Unreadable::NotAPicture => "the file is not a PNG or JPEG picture",
            Unreadable::TooLarge => "the picture is too large: at most 8 MB and 24 megapixels",
            Unreadable::NoCode => "no QR code was found in the picture: take it again, closer and straight on",
        }
    }
}

/// A picture in shades of grey, one byte a pixel, row by row.
struct Grey {
    width: usize,
    height: usize,
    luma: Vec<u8>,
}

/// The text of the first QR code in a PNG or JPEG picture.
pub fn read(bytes: &[u8]) -> Result<String, Unreadable> {
    if bytes.len() > IMAGE_BYTES_MAX {
        return Err(Unreadable::TooLarge);
    }
    let grey = if bytes.starts_with(b"\x89PNG") {
        png_grey(bytes)?
    } else if bytes.starts_with(&[0xFF, 0xD8]) {
        jpeg_grey(bytes)?
    } else {
        return Err(Unreadable::NotAPicture);
    };
    debug_assert_eq!(grey.luma.len(), grey.width * grey.height);
    find_code(&grey)
}

fn bounded(width: usize, height: usize) -> Result<(), Unreadable> {
    match width.checked_mul(height) {
        Some(0) => Err(Unreadable::NotAPicture),
        Some(pixels) if pixels <= PIXELS_MAX => Ok(()),
        _ => Err(Unreadable::TooLarge),
    }
}

/// A PNG's size from its header (IHDR is the first chunk: width and height at bytes 16 to 24), read
/// before the decoder runs.
fn png_size(bytes: &[u8]) -> Result<(usize, usize), Unreadable> {
    let field = |at: usize| bytes.get(at..at + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize);
    match (bytes.get(12..16), field(16), field(20)) {
        (Some(b"IHDR"), Some(w), Some(h)) => Ok((w, h)),
        _ => Err(Unreadable::NotAPicture),
    }
}

fn png_grey(bytes: &[u8]) -> Result<Grey, Unreadable> {
    let (claimed_w, claimed_h) = png_size(bytes)?;
    bounded(claimed_w, claimed_h)?;
    let mut decoder = png::Decoder::new(bytes);
    // Palette and low bit depths to 8-bit samples, 16-bit to 8: every frame then has 1 to 4 bytes a pixel.
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(png_refusal)?;
    let (width, height) = (reader.info().width as usize, reader.info().height as usize);
    bounded(width, height)?;
    let mut buffer = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut buffer).map_err(png_refusal)?;
    let channels = frame.color_type.samples();
    let luma = buffer[..frame.buffer_size()]
        .chunks_exact(channels)
        .map(|px| match px {
            [g] | [g, _] => *g,
            [r, g, b, ..] => ((u32::from(*r) * 299 + u32::from(*g) * 587 + u32::from(*b) * 114) / 1000) as u8,
            _ => 0,
        })
        .collect();
    Ok(Grey { width, height, luma })
}

fn png_refusal(e: png::DecodingError) -> Unreadable {
    match e {
        png::DecodingError::LimitsExceeded => Unreadable::TooLarge,
        _ => Unreadable::NotAPicture,
    }
}

fn jpeg_grey(bytes: &[u8]) -> Result<Grey, Unreadable> {
    use zune_jpeg::zune_core::{colorspace::ColorSpace, options::DecoderOptions};
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::Luma);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(bytes, options);
    decoder.decode_headers().map_err(|_| Unreadable::NotAPicture)?;
    let (width, height) = decoder.dimensions().ok_or(Unreadable::NotAPicture)?;
    bounded(width, height)?;
    let luma = decoder.decode().map_err(|_| Unreadable::NotAPicture)?;
    if luma.len() != width * height {
        return Err(Unreadable::NotAPicture);
    }
    Ok(Grey { width, height, luma })
}

/// Sample the picture down to [`SIDE_PX_MAX`] (every `step`-th pixel) and read the first code.
fn find_code(grey: &Grey) -> Result<String, Unreadable> {
    let step = grey.width.max(grey.height).div_ceil(SIDE_PX_MAX).max(1);
    let (w, h) = (grey.width / step, grey.height / step);
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| grey.luma[y * step * grey.width + x * step]);
    prepared.detect_grids().iter().find_map(|grid| grid.decode().ok().map(|(_, text)| text)).ok_or(Unreadable::NoCode)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A QR code as PNG bytes, drawn the way `/qr/code.png` draws it.
    fn png_of(text: &str) -> Vec<u8> {
        crate::qr::render_png(text).expect("a code")
    }

    #[test]
    fn a_code_drawn_as_png_reads_back_as_its_text() {
        let text = "weixin://wxpay/bizpayurl?pr=abc123";
        assert_eq!(read(&png_of(text)), Ok(text.to_string()));
    }

    #[test]
    fn a_file_that_is_no_picture_is_refused() {
        assert_eq!(read(b"GIF89a not a png"), Err(Unreadable::NotAPicture));
        assert_eq!(read(b"\x89PNG truncated"), Err(Unreadable::NotAPicture));
    }

    #[test]
    fn a_picture_without_a_code_says_so() {
        let mut blank = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut blank, 64, 64);
            encoder.set_color(png::ColorType::Grayscale);
            encoder.write_header().unwrap().write_image_data(&[255; 64 * 64]).unwrap();
        }
        assert_eq!(read(&blank), Err(Unreadable::NoCode));
    }

    #[test]
    fn a_picture_claiming_more_pixels_than_the_bound_is_refused_before_decoding() {
        // A header for 100,000 × 100,000 pixels and no image data.
        let mut huge = Vec::new();
        png::Encoder::new(&mut huge, 100_000, 100_000).write_header().unwrap();
        assert_eq!(read(&huge), Err(Unreadable::TooLarge));
    }
}
