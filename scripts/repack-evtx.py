#!/usr/bin/env python3
"""Builds a large set of real EVTX files for benchmarks from the chunks of smaller ones.

Every 64 KiB chunk of an EVTX file is self-contained (its own string and template tables), so
valid chunks taken from real logs (the public corpus) and written one after another under a
fresh file header make a valid log as large as a busy DC's: the records are real, the chunk
checksums stay the ones Windows wrote, and the file header's checksum is computed anew.
Chunks whose header or data checksum does not verify are left out.

    scripts/repack-evtx.py --out DIR [--files 8] [--mib 128] SOURCE...
"""

import argparse
import os
import struct
import sys
import zlib

FILE_HEADER = 4096
CHUNK = 65536


def valid_chunks(path):
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(b"ElfFile\0"):
        return []
    chunks = []
    for start in range(FILE_HEADER, len(data) - CHUNK + 1, CHUNK):
        chunk = data[start:start + CHUNK]
        if not chunk.startswith(b"ElfChnk\0"):
            continue
        free_space = struct.unpack_from("<I", chunk, 48)[0]
        data_crc, header_crc = struct.unpack_from("<I", chunk, 52)[0], struct.unpack_from("<I", chunk, 124)[0]
        if not 512 <= free_space <= CHUNK:
            continue
        if zlib.crc32(chunk[512:free_space]) != data_crc:
            continue
        if zlib.crc32(chunk[:120] + chunk[128:512]) != header_crc:
            continue
        chunks.append(chunk)
    return chunks


def file_header(chunks, next_record):
    header = bytearray(FILE_HEADER)
    struct.pack_into("<8sQQQIHHHH", header, 0, b"ElfFile\0", 0, chunks - 1, next_record, 128, 1, 3, FILE_HEADER, chunks)
    struct.pack_into("<I", header, 120, 0)  # flags: clean
    struct.pack_into("<I", header, 124, zlib.crc32(bytes(header[:120])))
    return bytes(header)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--mib", type=int, default=128, help="size of each file")
    parser.add_argument("sources", nargs="+")
    args = parser.parse_args()
    pool = []
    for source in args.sources:
        pool.extend(valid_chunks(source))
    if not pool:
        sys.exit("no valid EVTX chunk among the sources")
    # In the order of their first record's time, as a log keeps them: a file then reads
    # forward in time, stepping back only where it starts over on the pool.
    pool.sort(key=lambda chunk: struct.unpack_from("<Q", chunk, 512 + 16)[0])
    per_file = max(1, (args.mib * 1024 * 1024 - FILE_HEADER) // CHUNK)
    if per_file > 0xFFFF:
        sys.exit("at most 65535 chunks (4 GiB) per file")
    os.makedirs(args.out, exist_ok=True)
    taken = 0
    for n in range(args.files):
        path = os.path.join(args.out, f"repacked-{n:02}.evtx")
        with open(path, "wb") as f:
            f.write(file_header(per_file, 1))
            for i in range(per_file):
                f.write(pool[(taken + i) % len(pool)])
        taken += per_file
        print(f"{path}: {per_file} chunks", file=sys.stderr)
    print(f"{len(pool)} distinct valid chunks, {args.files} files of {per_file} chunks", file=sys.stderr)


if __name__ == "__main__":
    main()
