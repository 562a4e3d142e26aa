//! The protobuf codec of Steward's generated services: prost's, except that a
//! request that does not parse is INVALID_ARGUMENT (the caller sent bad bytes)
//! rather than INTERNAL (which reads as a server bug).

use tonic::Status;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};

/// prost encoding with caller-facing decode errors.
#[derive(Debug)]
pub struct StewardCodec<T, U>(ProstCodec<T, U>);

impl<T, U> Default for StewardCodec<T, U> {
    fn default() -> Self {
        Self(ProstCodec::new())
    }
}

impl<T, U> Codec for StewardCodec<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = MalformedIsInvalid<ProstDecoder<U>>;

    fn encoder(&mut self) -> Self::Encoder {
        self.0.encoder()
    }

    fn decoder(&mut self) -> Self::Decoder {
        MalformedIsInvalid(self.0.decoder())
    }
}

/// A decoder whose parse failures become INVALID_ARGUMENT.
#[derive(Debug)]
pub struct MalformedIsInvalid<D>(D);

impl<D: Decoder<Error = Status>> Decoder for MalformedIsInvalid<D> {
    type Item = D::Item;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Status> {
        self.0
            .decode(buf)
            .map_err(|status| Status::invalid_argument(format!("malformed protobuf message: {}", status.message())))
    }

    fn buffer_settings(&self) -> BufferSettings {
        self.0.buffer_settings()
    }
}
