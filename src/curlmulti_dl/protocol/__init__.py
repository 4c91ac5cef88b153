"""What servers say: header and FTP-reply parsing, the first answer (probe), checksums,
and what an FTP server understands. Pure: no I/O."""
