# A VPC for the module's tests to put their groups in.
resource "aws_vpc" "test" {
  cidr_block = "10.0.0.0/16"
}

output "vpc_id" {
  value = aws_vpc.test.id
}
